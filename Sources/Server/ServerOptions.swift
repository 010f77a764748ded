import Foundation
import Prometheus
import MCPCore
import RateLimit

/// Everything the HTTP layer needs to know, as plain values. The executable fills it from
/// the configuration; tests build it directly.
public struct ServerOptions: Sendable {
    /// How a Streamable HTTP POST that carries a request is answered.
    public enum ResponseMode: String, Sendable { case json, sse }

    public var identity: ServerIdentity
    /// The public listener (all MCP routes).
    public var host = "127.0.0.1"
    public var port = 8443
    /// Extra listeners with the same handlers: the Go server's `server.api_port` and
    /// `server.sse_port`, for deployments that still point at them.
    public var extraPorts: [Int] = []
    /// The ops listener (`/health`, `/ready`, `/status`, `/metrics`); plaintext.
    public var opsEnabled = true
    public var opsHost = "127.0.0.1"
    public var opsPort = 9001
    /// Open connections on the ops listener; at the cap the longest-idle one makes room.
    public var opsMaxConnections = 64
    /// Host names the ops listener answers for besides `localhost` and IP literals.
    public var opsAllowedHosts: [String] = []

    /// The Go server's `server.api_enabled` (`/api/mcp/v1/call`, `/api/mcp/v1/tools`) and
    /// `server.sse_enabled` (`/api/mcp/v1/sse`, `/api/mcp/v1/sse/rpc`).
    public var apiEnabled = true
    public var goSSEEnabled = true

    public var responseMode: ResponseMode = .json
    public var getStreamEnabled = true
    /// Last-Event-ID replay of session-era streams, bounded per session.
    public var resumability = false
    public var replayBufferEvents = 256
    public var replayBufferBytes = 1 << 20
    /// Streams a session remembers for resumption, and most it may have open at once.
    public var replayMaxStreams = 64
    /// Origins allowed besides requests without an Origin header and same-host origins.
    public var allowedOrigins: [String] = []
    public var ssePingInterval: Duration = .seconds(30)
    /// Bytes of SSE events queued for one stream before its reader counts as stalled and
    /// is cut off.
    public var sseWriteBuffer = 256 * 1024

    public var sessionIdleTimeout: Duration = .seconds(30 * 60)
    public var maxSessions = 4096
    public var maxSessionsPerToken = 128
    public var maxSSEStreams = 2048
    public var maxSSEStreamsPerToken = 64
    public var maxInFlightPerSession = 32

    /// Request body cap (413), checked from Content-Length and while reading.
    public var maxBody = 4 << 20
    public var maxHeaderBytes = 16 << 10
    public var maxHeaderCount = 100
    public var idleTimeout: Duration = .seconds(60)
    public var headerTimeout: Duration = .seconds(10)
    public var bodyTimeout: Duration = .seconds(30)
    /// Data sent and not acknowledged this long closes the connection (TCP_USER_TIMEOUT on
    /// the listening sockets, which the accepted ones inherit); nil: the kernel's own retries.
    public var sendTimeout: Duration? = .seconds(120)
    /// `limits.max_unsent_bytes`: answer bytes all public connections may hold unsent at once.
    public var maxUnsentBytes = 256 << 20
    /// `limits.max_buffered_body_bytes`: request body bytes all public connections may hold
    /// while their bodies still arrive.
    public var maxBufferedBodyBytes = 256 << 20
    /// `limits.listen_backlog`, for the public and ops listeners.
    public var listenBacklog = 256
    /// After a refusal, the longest a connection reads and drops what still comes before it
    /// closes (lingering close).
    public var lingerTimeout: Duration = .seconds(2)
    /// Minimum upload rate of a body with a declared length, bytes per second (0: off).
    public var bodyMinRate = 1024

    /// Proxies whose `Forwarded`/`X-Forwarded-For` name the client (empty: none).
    public var trustedProxies = TrustedProxies()

    public init(identity: ServerIdentity) {
        self.identity = identity
    }
}
