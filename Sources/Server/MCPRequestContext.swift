import Foundation
import Prometheus
import Hummingbird
import Logging
import MCPCore
import NIOCore

/// Per-request state: the connection (for its peer address and to cut it off) and who the
/// authentication middleware found the caller to be.
public struct MCPRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// Set by the authentication middleware; nil on unauthenticated routes.
    public var principal: MCPSession.Principal?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The body cap is enforced by our own collection (413 with a JSON-RPC body); this
    /// keeps Hummingbird's decoders in line with it.
    public var maxUploadSize: Int { 4 << 20 }

    /// The whole body, when it came with the head (``ResponseSink/completeBody``):
    /// collecting it needs no deadline, and ``FrameReader`` takes it without reading.
    var completeBody: ByteBuffer?
    var bodyComplete: Bool { completeBody != nil }

    /// Set by the authentication middleware when a trusted proxy names the client.
    var resolvedClientAddress: String?

    /// What the connection remembers between requests, its peer's address among it; nil
    /// where a context is made without a public connection.
    var connection: ConnectionMemo?

    /// The client's address as a string (IPv4 or IPv6 literal), or "unknown".
    public var clientAddress: String {
        resolvedClientAddress ?? connection?.peerAddress ?? channel.remoteAddress?.ipAddress ?? "unknown"
    }
}
