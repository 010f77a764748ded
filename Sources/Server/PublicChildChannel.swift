import Foundation
import Prometheus
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Adds the per-connection layers under HTTP: admission at accept (before any TLS work,
/// DESIGN.md principle 3) and the TLS handler. Keeping TLS a plain NIO handler under
/// Hummingbird's HTTP/1.1 channel means the HTTP layer could change without touching it.
public protocol ConnectionSecurity: Sendable {
    /// Handlers to put first in a new connection's pipeline (e.g. the OpenSSL handler).
    func makeHandlers(for channel: any Channel) throws -> [any ChannelHandler]
}

/// Accept-time decision for a new connection; `admit` returning false closes it at once.
/// An admitted connection is released when it closes.
public protocol ConnectionAdmission: Sendable {
    func admit(_ channel: any Channel) -> Bool
}

struct ConnectionRefused: Error {}

struct PublicChildChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let security: (any ConnectionSecurity)?
    let admission: (any ConnectionAdmission)?
    let extraHandlers: @Sendable () -> [any ChannelHandler]

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        if let admission, !admission.admit(channel) {
            // NIO's async bind ignores a failed initializer: close the socket ourselves.
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ConnectionRefused())
        }
        do {
            if let security {
                try channel.pipeline.syncOperations.addHandlers(security.makeHandlers(for: channel))
            }
            try channel.pipeline.syncOperations.addHandlers(extraHandlers())
        } catch {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(error)
        }
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}
