import NIOCore

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
/// One per loop (``EventLoopTaskExecutors``), so that the runtime sees the same executor for
/// every job of a task and runs its calls inline rather than enqueueing them again.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop
    /// The loop's ``ResponseFlusher``, shared by the listener's connections on it.
    let flusher: NIOLoopBoundBox<ResponseFlusher>

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        flusher = .makeBoxSendingValue(ResponseFlusher(loop: eventLoop), eventLoop: eventLoop)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// The executors of one event loop group's loops, made once when a listener starts. Bounded
/// by the group: a process-wide cache keyed by loop kept every loop it ever saw, one more per
/// input in the HTTP fuzz harness, whose every input brings a new testing loop. Looked up
/// without a lock (the table never changes).
struct EventLoopTaskExecutors: Sendable {
    private let byLoop: [ObjectIdentifier: EventLoopTaskExecutor]

    init(group: any EventLoopGroup) {
        var byLoop: [ObjectIdentifier: EventLoopTaskExecutor] = [:]
        for loop in group.makeIterator() { byLoop[ObjectIdentifier(loop)] = EventLoopTaskExecutor(eventLoop: loop) }
        self.byLoop = byLoop
    }

    /// The executor of `loop`; nil for a loop outside the group (its tasks run on the pool).
    func executor(for loop: any EventLoop) -> EventLoopTaskExecutor? {
        byLoop[ObjectIdentifier(loop)]
    }
}
