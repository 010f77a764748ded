import Foundation
import Prometheus
import Hummingbird
import Logging
import MCPCore
import NIOCore

/// Per-request state: the connection (for its peer address and to cut it off) and who the
/// authentication middleware found the caller to be.
///
/// Not a Hummingbird `RequestContext`: our routes use none of its router's state, and its
/// core storage made a locked box for the endpoint path on every request (an allocation and
/// a mutex set up and torn down, for a value nothing reads).
public struct MCPRequestContext: Sendable {
    public let logger: Logger
    public let channel: any Channel
    /// Set by the authentication middleware; nil on unauthenticated routes.
    public var principal: MCPSession.Principal?

    public init(source: ApplicationRequestContextSource) {
        logger = source.logger
        channel = source.channel
    }

    /// A Hummingbird context for the few APIs that want one (an `HTTPResponseError`'s
    /// response): made only on those paths.
    var hummingbird: BasicRequestContext {
        BasicRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
    }

    /// The whole body, when it came with the head (``ResponseSink/completeBody``):
    /// collecting it needs no deadline, and ``FrameReader`` takes it without reading.
    var completeBody: ByteBuffer?
    var bodyComplete: Bool { completeBody != nil }

    /// Set by the authentication middleware when a trusted proxy names the client.
    var resolvedClientAddress: String?

    /// The per-token request limiter that let this request in, if one is configured: a batch
    /// is charged for its further messages once it is parsed (``FrameReader``).
    var rateLimiter: SharedRateLimiter?

    /// What the connection remembers between requests, its peer's address among it; nil
    /// where a context is made without a public connection.
    var connection: ConnectionMemo?

    /// The client's address as a string (IPv4 or IPv6 literal), or "unknown".
    public var clientAddress: String {
        resolvedClientAddress ?? connection?.peerAddress ?? channel.remoteAddress?.ipAddress ?? "unknown"
    }
}
