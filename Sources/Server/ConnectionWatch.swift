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
///
/// The end of the client's input (a FIN, or TLS close_notify) is told apart
/// (``inputEnded()``): the connection stays open to answer a client that half-closed, but
/// before the server writes, a client that closed looks the same, and a call answered as JSON
/// ran its whole backend timeout after its client had gone. Work registered with
/// `atEndOfInput` (a 2026-07-28 call, a Go API call) is cancelled there too, as Go's
/// `net/http` ends a request's context at the end of input; an event stream is not (a client
/// that half-closed still reads it, and a session-era answer on one must still reach it).
final class ConnectionWatch: Sendable {
    private enum Slot {
        case open(action: (@Sendable () -> Void)?, atEndOfInput: Bool)
        case closed
    }

    private struct State {
        var slot = Slot.open(action: nil, atEndOfInput: false)
        var inputEnded = false
    }

    private let state: Mutex<State>

    init() { state = Mutex(State()) }

    /// A watch for a connection no listener tracks (a context made without one): it fires
    /// never, or at once if the channel is already closed.
    static func unwatched(_ channel: any Channel) -> ConnectionWatch {
        let watch = ConnectionWatch()
        if !channel.isActive { watch.closed() }
        return watch
    }

    /// The connection closed: runs what is registered, and anything registered later at once.
    func closed() {
        let action = state.withLock { state -> (@Sendable () -> Void)? in
            defer { state.slot = .closed }
            if case .open(let action, _) = state.slot { return action }
            return nil
        }
        action?()
    }

    /// The client's input ended: runs what is registered `atEndOfInput`, and any such work
    /// registered later at once; the rest waits for the close.
    func inputEnded() {
        let action = state.withLock { state -> (@Sendable () -> Void)? in
            state.inputEnded = true
            guard case .open(let action?, true) = state.slot else { return nil }
            state.slot = .open(action: nil, atEndOfInput: false)
            return action
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

    /// Runs `action` when the connection closes (an SSE stream ends its pump), and with
    /// `atEndOfInput` when the client's input ends too; now if that has happened already.
    func onClose(atEndOfInput: Bool = false, _ action: @escaping @Sendable () -> Void) {
        let registered = state.withLock { state -> Bool in
            guard case .open = state.slot, !(atEndOfInput && state.inputEnded) else { return false }
            state.slot = .open(action: action, atEndOfInput: atEndOfInput)
            return true
        }
        if !registered { action() }
    }

    /// Forgets the registered action (the work it would cancel is over).
    func clear() {
        state.withLock { if case .open = $0.slot { $0.slot = .open(action: nil, atEndOfInput: false) } }
    }
}

extension MCPRequestContext {
    /// The watch of this request's connection.
    var connectionWatch: ConnectionWatch { connection?.watch ?? .unwatched(channel) }
}
