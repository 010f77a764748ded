import NIOCore
import Synchronization

/// Runs the jobs of the tasks that prefer it on one NIO event loop, so a request's task runs
/// on its connection's loop from start to response: no hop to the concurrency pool and back.
///
/// Why: on a shared core, each request used to wake a pool thread (task creation, futex) and
/// the loop again (the response); `perf` put ≈ 10 % of a request's CPU in those hops and
/// context switches. A task's nonisolated async calls stay on its preferred executor
/// (SE-0417), so a request that does no I/O now never leaves the loop. Its cost: work that
/// computes for long (a 4 MiB body parsed) delays the loop's other connections, as in any
/// event-loop server; a tool's backend I/O suspends the task and frees the loop.
///
/// One per loop (``shared(for:)``), so that the runtime sees the same executor for every job
/// of a task and runs its calls inline rather than enqueueing them again.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    private init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    private static let executors = Mutex<[ObjectIdentifier: EventLoopTaskExecutor]>([:])

    /// The executor of `eventLoop` (created at its first use; loops live as long as the process).
    static func shared(for eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        let key = ObjectIdentifier(eventLoop)
        return executors.withLock { executors in
            if let executor = executors[key] { return executor }
            let executor = EventLoopTaskExecutor(eventLoop: eventLoop)
            executors[key] = executor
            return executor
        }
    }
}
