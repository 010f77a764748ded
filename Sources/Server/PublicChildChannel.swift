import Foundation
import Prometheus
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypesHTTP1

/// Adds the per-connection layers under HTTP: admission at accept (before any TLS work,
/// DESIGN.md principle 3) and the TLS handler. Keeping TLS a plain NIO handler under
/// Hummingbird's HTTP/1.1 channel means the HTTP layer could change without touching it.
public protocol ConnectionSecurity: Sendable {
    /// Handlers to put first in a new connection's pipeline (e.g. the OpenSSL handler).
    func makeHandlers(for channel: any Channel) throws -> [any ChannelHandler]
    /// Whether a user event fired by those handlers means the handshake completed.
    func isHandshakeCompletion(_ event: Any) -> Bool
}

/// Accept-time decision for a new connection; nil closes it at once. The ticket is told
/// when the handshake is done; the admission releases it when the connection closes.
public protocol ConnectionAdmission: Sendable {
    func admit(_ channel: any Channel) -> (any AdmissionTicket)?
}

public protocol AdmissionTicket: Sendable {
    func handshakeFinished()
    /// The connection is waiting between keep-alive requests (true) or serving one (false).
    func connectionIdle(_ idle: Bool)
}

/// Tells the admission ticket when the TLS handshake has completed, then leaves the pipeline
/// (one handler less on every read, ≈ 0.2 KiB less per open connection).
final class HandshakeNotifier: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let ticket: any AdmissionTicket
    let security: any ConnectionSecurity

    init(ticket: any AdmissionTicket, security: any ConnectionSecurity) {
        self.ticket = ticket
        self.security = security
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard security.isHandshakeCompletion(event) else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        ticket.handshakeFinished()
        context.fireUserInboundEventTriggered(event)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

struct ConnectionRefused: Error {}

struct PublicChildChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let security: (any ConnectionSecurity)?
    let admission: (any ConnectionAdmission)?
    let extraHandlers: @Sendable () -> [any ChannelHandler]
    let headerTimeout: TimeAmount
    /// Our keep-alive idle deadline (counted as `phase="idle"`); Hummingbird's own idle
    /// timeout is set a little later as a backstop.
    let idleTimeout: TimeAmount
    let metrics: ServerMetrics?

    /// Hummingbird's entry point (the `http_pipeline` fuzz target uses it): the future
    /// completes at the connection's first request byte (see `FirstRequestSetup`).
    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            return try prepare(channel: channel, logger: logger)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    /// Admits the connection and installs everything up to the point where its first request
    /// byte arrives; throws (having closed the channel) when it is refused. The returned future
    /// completes with the HTTP layer at the first request byte, or fails if the connection
    /// closes before one.
    func prepare(channel: any Channel, logger: Logger) throws -> EventLoopFuture<Value> {
        var ticket: (any AdmissionTicket)?
        if let admission {
            ticket = admission.admit(channel)
            if ticket == nil {
                channel.close(promise: nil)
                throw ConnectionRefused()
            }
        }
        let metrics = self.metrics
        // Per-connection deadline handlers go under and above the HTTP codec; the channel
        // configuration is a cheap value, rebuilt per connection to carry them.
        let deadlines = RequestDeadlines(headerTimeout: headerTimeout, idleTimeout: idleTimeout, ticket: ticket) { phase in
            metrics?.counter(.timeouts, phase).increment()
        }
        var configuration = http1.configuration
        let base = configuration.additionalChannelHandlers
        configuration.additionalChannelHandlers = {
            [RequestPhaseHandler(deadlines: deadlines, onOversizedHeaders: { metrics?.counter(.httpResponses, "431").increment() })] + base()
        }
        let http = HTTP1Channel(responder: http1.responder, configuration: configuration)
        let ready = channel.eventLoop.makePromise(of: Value.self)
        let firstRequest = FirstRequestSetup(promise: ready) { channel in
            http.setup(channel: channel, logger: logger).flatMapThrowing { value in
                // The head guard goes right above NIOHTTP1's decoder, where every Host line is
                // still visible.
                let codec = try channel.pipeline.syncOperations.context(handlerType: HTTP1ToHTTPServerCodec.self)
                try channel.pipeline.syncOperations.addHandler(RequestHeadGuard(), position: .before(codec.handler))
                return value
            }
        }
        do {
            let pipeline = channel.pipeline.syncOperations
            if let security {
                try pipeline.addHandlers(security.makeHandlers(for: channel))
                if let ticket { try pipeline.addHandler(HandshakeNotifier(ticket: ticket, security: security)) }
            } else {
                ticket?.handshakeFinished()
            }
            try pipeline.addHandlers(extraHandlers())
            try pipeline.addHandler(RawRequestStartHandler(deadlines: deadlines))
            try pipeline.addHandler(firstRequest)
        } catch {
            channel.close(promise: nil)
            ready.fail(error)
            throw error
        }
        ConnectionWatch.shared.register(channel)
        // NIO keeps each connection's last receive buffer for reuse, sized by this allocator:
        // 2 KiB per open connection by default, idle or not. Start at 512 bytes (a typical MCP
        // request with its TLS record fits); reads that fill the buffer grow it as before.
        _ = try? channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
        return ready.futureResult
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}
