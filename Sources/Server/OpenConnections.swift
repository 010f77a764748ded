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
        var tasks: [Int: Task<Void, Never>] = [:]
        var nextTask = 0
        var waiter: CheckedContinuation<Void, Never>?

        /// The waiter to resume now that something ended, if nothing is left.
        mutating func takeWaiterIfEmpty() -> CheckedContinuation<Void, Never>? {
            guard channels.isEmpty, tasks.isEmpty else { return nil }
            defer { waiter = nil }
            return waiter
        }
    }

    private let state = Mutex(State())

    var count: Int { state.withLock { $0.channels.count } }
    var taskCount: Int { state.withLock { $0.tasks.count } }

    func insert(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.channels[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            let waiter = state.withLock { state in
                state.channels.removeValue(forKey: id)
                return state.takeWaiterIfEmpty()
            }
            waiter?.resume()
        }
    }

    /// Runs a request's work (or a streamed response body) in a task of its own, tracked until
    /// it returns.
    func run(_ body: @escaping @Sendable () async -> Void) {
        state.withLock { state in
            let id = state.nextTask
            state.nextTask += 1
            // Created under the lock, so the task cannot finish before it is recorded.
            state.tasks[id] = Task { [self] in
                await body()
                let waiter = self.state.withLock { state in
                    state.tasks.removeValue(forKey: id)
                    return state.takeWaiterIfEmpty()
                }
                waiter?.resume()
            }
        }
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
        let (channels, tasks) = state.withLock { (Array($0.channels.values), Array($0.tasks.values)) }
        for channel in channels { channel.close(promise: nil) }
        for task in tasks { task.cancel() }
    }

    /// Returns once no connection is open and no task is running (at once if so already).
    func waitUntilEmpty() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.channels.isEmpty, state.tasks.isEmpty { return true }
                state.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }
}
