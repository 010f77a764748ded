import Auth
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
    /// The thumbprint of the client certificate `channel`'s completed handshake verified, if
    /// the client presented one (what a certificate-bound token is checked against). Called
    /// on the channel's event loop.
    func clientCertificate(of channel: any Channel) -> CertificateThumbprint?
}

/// Accept-time decision for a new connection; nil closes it at once. The ticket is told
/// when the handshake is done; the admission releases it when the connection closes.
public protocol ConnectionAdmission: Sendable {
    func admit(_ channel: any Channel) -> (any AdmissionTicket)?
}

public protocol AdmissionTicket: Sendable {
    func handshakeFinished()
    /// The connection is waiting between keep-alive requests (true), or a request's first
    /// byte arrived (false).
    func connectionIdle(_ idle: Bool)
    /// The connection serves a request (true: its task started) or has stopped (false: the
    /// response ended). A refused request is never served, and a pipelined request held
    /// until the client reads the response before it is not served yet.
    func serving(_ serving: Bool)
}

struct ConnectionRefused: Error {}

/// One public connection's channel set-up: admission at accept, TLS, the request deadlines,
/// and, at the first request byte, the HTTP/1.1 layer (our codec, which reads each request
/// with our caps, checks its head, encodes each response and moves the deadlines along; and ``RequestDispatcher``, which starts a task per request and handles
/// graceful shutdown's quiesce).
struct PublicChildChannel: Sendable {
    let runner: RequestRunner
    let security: (any ConnectionSecurity)?
    let admission: (any ConnectionAdmission)?
    let extraHandlers: @Sendable () -> [any ChannelHandler]
    let decoderLimits: HTTPRequestParser.Limits
    let headerTimeout: TimeAmount
    /// The keep-alive idle deadline (counted as `phase="idle"`).
    let idleTimeout: TimeAmount
    /// The longest a refused connection waits for its refusal to be sent, and then reads and
    /// drops what still comes (counted as `phase="linger"` when it is over).
    let lingerTimeout: TimeAmount
    /// `limits.max_unsent_bytes` (nil: not counted; the ops listener).
    let unsent: SharedByteBudget?
    let metrics: ServerMetrics?
    /// Whose connections these are, for the metrics.
    var listener: Listener = .public
    /// Reads per readiness event on a connection (see ``prepare(channel:watch:logger:spawner:)``).
    static let readsPerEvent: UInt = 1
    /// The most one read takes (the receive allocator's maximum); the codec's bound on input
    /// held while a request is served is counted in these.
    static let maxReadBytes = 65536

    /// The ops listener is served by the same machinery, but its deadlines are counted under
    /// their own phases (`ops_header`, `ops_idle`, `ops_linger`: a stuck scraper is not an
    /// attack on the public port), and its answers are not among `mcp_http_responses_total`,
    /// which counts the public routes' answers.
    enum Listener: Sendable {
        case `public`, ops

        func phase(_ phase: String) -> String {
            self == .ops ? "ops_" + phase : phase
        }
    }

    /// Admits the connection and installs everything up to the point where its first request
    /// byte arrives; throws (having closed the channel) when it is refused. The returned future
    /// completes when the HTTP layer is installed at the first request byte, or fails if the
    /// connection closes before one. `spawner` is asked once per connection, with the
    /// connection's event loop, for what starts (and tracks) each of its requests' tasks and
    /// for the loop's ``ResponseFlusher`` (nil: the connection gets one of its own).
    func prepare(channel: any Channel, watch: ConnectionWatch, logger: Logger,
                 spawner: @escaping @Sendable (any EventLoop) -> (spawn: RequestRunner.Spawn, flusher: NIOLoopBoundBox<ResponseFlusher>?)) throws -> EventLoopFuture<Void> {
        var ticket: (any AdmissionTicket)?
        if let admission {
            ticket = admission.admit(channel)
            if ticket == nil {
                channel.close(promise: nil)
                throw ConnectionRefused()
            }
        }
        let (metrics, listener) = (self.metrics, self.listener)
        // Per-connection deadline handlers go under and above the HTTP codec.
        let deadlines = RequestDeadlines(headerTimeout: headerTimeout, idleTimeout: idleTimeout, ticket: ticket) { phase in
            metrics?.counter(.timeouts, listener.phase(phase)).increment()
        }
        let (runner, decoderLimits, lingerTimeout, security, unsent) = (self.runner, self.decoderLimits, self.lingerTimeout, self.security, self.unsent)
        let ready = channel.eventLoop.makePromise(of: Void.self)
        let firstRequest = FirstRequestSetup(promise: ready) { channel in
            channel.eventLoop.makeCompletedFuture {
                let pipeline = channel.pipeline.syncOperations
                // The codec parses each request, checks its head (RequestHeadGuard) while every
                // Host line is still visible, and encodes the responses.
                try pipeline.addHTTPServerCodec(limits: decoderLimits, deadlines: deadlines, unsent: unsent?.account(for: channel))
                // The peer's address formatted once per connection, not for every request; the
                // handshake is over, so its client certificate (if any) is known.
                let memo = ConnectionMemo(peerAddress: channel.remoteAddress?.ipAddress,
                                          clientCertificate: security?.clientCertificate(of: channel), watch: watch)
                // Requests (and their streamed bodies) run on the connection's event loop.
                let (spawnHere, flusher) = spawner(channel.eventLoop)
                try pipeline.addHandler(RequestDispatcher(start: { request, sink in
                    spawnHere { await runner.run(request, sink: sink, channel: channel, connection: memo, spawn: spawnHere) }
                }, onRefusal: { status in
                    if listener == .public { metrics?.responses(status: Int(status.code)).increment() }
                }, linger: RequestDispatcher.Linger(timeout: lingerTimeout) {
                    metrics?.counter(.timeouts, listener.phase("linger")).increment()
                }, deadlines: deadlines, flusher: flusher?.value, onInputClosed: { watch.inputEnded() }))
            }
        }
        do {
            let pipeline = channel.pipeline.syncOperations
            if let security {
                try pipeline.addHandlers(security.makeHandlers(for: channel))
            } else {
                ticket?.handshakeFinished()
            }
            try pipeline.addHandlers(extraHandlers())
            try pipeline.addHandler(RawRequestStartHandler(deadlines: deadlines, handshake: ticket == nil ? nil : security))
            try pipeline.addHandler(firstRequest)
        } catch {
            channel.close(promise: nil)
            ready.fail(error)
            throw error
        }
        // NIO keeps each connection's last receive buffer for reuse, sized by this allocator:
        // 2 KiB per open connection by default, idle or not. Start at 512 bytes (a typical MCP
        // request with its TLS record fits); reads that fill the buffer grow it as before.
        _ = try? channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: Self.maxReadBytes))
        // One read per readiness event (NIO's default is four). While a connection's requests
        // wait for its client to take the answers before them, the codec holds further reads,
        // but what one event read stays unparsed: four reads of 64 KiB were 256 KiB per
        // connection that nothing counted, for as long as the idle timeouts let it wait. The
        // rest waits in the kernel's buffer, as nginx leaves it.
        _ = try? channel.syncOptions?.setOption(ChannelOptions.maxMessagesPerRead, value: Self.readsPerEvent)
        return ready.futureResult
    }
}
