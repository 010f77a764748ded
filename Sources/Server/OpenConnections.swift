import MCPCore
import NIOCore
import Synchronization

/// The open connections of one listener and the tasks serving them, for graceful shutdown:
/// ask every connection to quiesce, then wait until the last one has closed and the last
/// task has returned; when shutdown is forced, close them and cancel the tasks.
///
/// Hummingbird's server kept its connection tasks in a task group for the same reason; here
/// each request gets a task, started from an event loop callback (`RequestDispatcher`), so
/// the tasks are tracked by hand.
final class OpenConnections: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Tasks started and not yet returned; `tasks` holds their handles, for cancelling.
        var running = 0
        var tasks: [Int: Task<Void, Never>] = [:]
        var nextTask = 0
        /// Tasks that returned before `run` recorded them.
        var endedEarly: Set<Int> = []
        /// Set by a forced shutdown: a task recorded after it is cancelled at once.
        var cancelling = false
        var waiter: CheckedContinuation<Void, Never>?

        /// The waiter to resume now that something ended, if nothing is left.
        mutating func takeWaiterIfEmpty() -> CheckedContinuation<Void, Never>? {
            guard channels.isEmpty, running == 0 else { return nil }
            defer { waiter = nil }
            return waiter
        }
    }

    private let state = Mutex(State())

    var count: Int { state.withLock { $0.channels.count } }
    var taskCount: Int { state.withLock { $0.running } }

    /// Tracks `channel` until it closes, and then tells its `watch` (one close callback for both).
    func insert(_ channel: any Channel, watch: ConnectionWatch) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.channels[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            watch.closed()
            let waiter = state.withLock { state in
                state.channels.removeValue(forKey: id)
                return state.takeWaiterIfEmpty()
            }
            waiter?.resume()
        }
    }

    /// Runs a request's work (or a streamed response body) in a task of its own, tracked until
    /// it returns.
    ///
    /// The task is created outside the lock: creating it can wake a pool thread, which on a
    /// busy core then preempts this one while it still holds the lock and spins on it
    /// (measured: 5 % of the server's time per request). A task that ends before it is
    /// recorded leaves its id in `endedEarly`, so it is never recorded.
    func run(on executor: (any TaskExecutor)? = nil, _ body: @escaping @Sendable () async -> Void) {
        let id = state.withLock { state in
            defer { state.nextTask &+= 1 }
            state.running += 1
            return state.nextTask
        }
        let task = Task(executorPreference: executor) { [self] in
            if let executor {
                await MCPDispatcher.$requestExecutor.withValue(executor) { await body() }
            } else {
                await body()
            }
            let waiter = self.state.withLock { state in
                state.running -= 1
                if state.tasks.removeValue(forKey: id) == nil { state.endedEarly.insert(id) }
                return state.takeWaiterIfEmpty()
            }
            waiter?.resume()
        }
        let cancel = state.withLock { state -> Bool in
            if state.endedEarly.remove(id) == nil { state.tasks[id] = task }
            return state.cancelling
        }
        if cancel { task.cancel() }
    }

    /// Fires `ChannelShouldQuiesceEvent` on every connection: HTTP/1 connections close when
    /// idle or after the response in progress; ones with no request yet close at once.
    func quiesce() {
        for channel in state.withLock({ Array($0.channels.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    /// Forced shutdown: closes every connection and cancels every task.
    func closeAll() {
        let (channels, tasks) = state.withLock { state in
            state.cancelling = true
            return (Array(state.channels.values), Array(state.tasks.values))
        }
        for channel in channels { channel.close(promise: nil) }
        for task in tasks { task.cancel() }
    }

    /// Returns once no connection is open and no task is running (at once if so already).
    func waitUntilEmpty() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.channels.isEmpty, state.running == 0 { return true }
                state.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }
}
