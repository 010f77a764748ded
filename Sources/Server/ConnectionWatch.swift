import MCPCore
import NIOCore
import Synchronization

/// Cancels a request's work when its connection closes (2026-07-28
/// basic/transports/streamable-http.mdx: closing the response stream cancels the request).
///
/// HTTP/1.1 serves one request at a time per connection, so each connection has one slot
/// for "what to cancel", registered once with a single close callback: a long keep-alive
/// connection does not pile up a callback per request.
final class ConnectionWatch: Sendable {
    static let shared = ConnectionWatch()
    private let slots = Mutex<[ObjectIdentifier: @Sendable () -> Void]>([:])

    /// Called once per accepted connection.
    func register(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        slots.withLock { $0[id] = {} }
        channel.closeFuture.whenComplete { [self] _ in
            let cancel = slots.withLock { $0.removeValue(forKey: id) }
            cancel?()
        }
    }

    /// Runs `body`, cancelling it if the connection closes first.
    func whileConnected<T: Sendable>(_ channel: any Channel, _ body: @escaping @Sendable () async -> T) async -> T {
        let id = ObjectIdentifier(channel)
        let task = Task(executorPreference: MCPDispatcher.requestExecutor) { await body() }
        let registered = slots.withLock { slots -> Bool in
            guard slots[id] != nil else { return false }
            slots[id] = { task.cancel() }
            return true
        }
        if !registered, !channel.isActive { task.cancel() }
        let result = await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
        slots.withLock { if $0[id] != nil { $0[id] = {} } }
        return result
    }

    /// Runs `action` when the connection closes (an SSE stream ends its pump).
    func onClose(_ channel: any Channel, _ action: @escaping @Sendable () -> Void) {
        let id = ObjectIdentifier(channel)
        let registered = slots.withLock { slots -> Bool in
            guard slots[id] != nil else { return false }
            slots[id] = action
            return true
        }
        if !registered, !channel.isActive { action() }
    }

    func clear(_ channel: any Channel) {
        slots.withLock { if $0[ObjectIdentifier(channel)] != nil { $0[ObjectIdentifier(channel)] = {} } }
    }
}
