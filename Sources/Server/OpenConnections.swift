import NIOCore
import Synchronization

/// The open connections of one listener, for graceful shutdown: ask them all to quiesce,
/// then wait until the last one has closed.
final class OpenConnections: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    var count: Int { state.withLock { $0.channels.count } }

    func insert(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.channels[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.channels.removeValue(forKey: id)
                guard state.channels.isEmpty else { return nil }
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    /// Fires `ChannelShouldQuiesceEvent` on every connection: HTTP/1 connections close when
    /// idle or after the response in progress; ones with no request yet close at once.
    func quiesce() {
        for channel in snapshot() {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func closeAll() {
        for channel in snapshot() { channel.close(promise: nil) }
    }

    /// Returns once no connection is open (at once if none is).
    func waitUntilEmpty() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.channels.isEmpty { return true }
                state.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }

    private func snapshot() -> [any Channel] {
        state.withLock { Array($0.channels.values) }
    }
}
