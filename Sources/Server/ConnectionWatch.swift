import MCPCore
import NIOCore
import Synchronization

/// Cancels a request's work when its connection closes (2026-07-28
/// basic/transports/streamable-http.mdx: closing the response stream cancels the request).
///
/// One per connection, told of the close by the listener's single close callback
/// (``OpenConnections/insert(_:watch:)``). HTTP/1.1 serves one request at a time per
/// connection, so it has one slot for "what to cancel": a long keep-alive connection does
/// not pile up a callback per request, and no table shared by every connection is locked
/// twice per connection.
final class ConnectionWatch: Sendable {
    private enum Slot {
        case open((@Sendable () -> Void)?)
        case closed
    }

    private let slot: Mutex<Slot>

    init() { slot = Mutex(.open(nil)) }

    /// A watch for a connection no listener tracks (a context made without one): it fires
    /// never, or at once if the channel is already closed.
    static func unwatched(_ channel: any Channel) -> ConnectionWatch {
        let watch = ConnectionWatch()
        if !channel.isActive { watch.closed() }
        return watch
    }

    /// The connection closed: runs what is registered, and anything registered later at once.
    func closed() {
        let action = slot.withLock { slot -> (@Sendable () -> Void)? in
            defer { slot = .closed }
            if case .open(let action) = slot { return action }
            return nil
        }
        action?()
    }

    /// Runs `body`, cancelling it if the connection closes first.
    func whileConnected<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        let task = Task(executorPreference: MCPDispatcher.requestExecutor) { await body() }
        onClose { task.cancel() }
        let result = await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
        clear()
        return result
    }

    /// Runs `action` when the connection closes (an SSE stream ends its pump), or now if it
    /// has closed already.
    func onClose(_ action: @escaping @Sendable () -> Void) {
        let registered = slot.withLock { slot -> Bool in
            guard case .open = slot else { return false }
            slot = .open(action)
            return true
        }
        if !registered { action() }
    }

    /// Forgets the registered action (the work it would cancel is over).
    func clear() {
        slot.withLock { if case .open = $0 { $0 = .open(nil) } }
    }
}

extension MCPRequestContext {
    /// The watch of this request's connection.
    var connectionWatch: ConnectionWatch { connection?.watch ?? .unwatched(channel) }
}
