/// `server`: identity and listeners. `host`/`port` is the public TLS listener; `http_*`
/// the plaintext ops listener (health, ready, status, metrics); `api_*` and `sse_*` the
/// Go server's HTTP API and SSE transport (port 0 = served on the public listener only).
public struct ServerConfig: Codable, Sendable, Equatable {
    public var name = "axinova-mcp-server"
    public var version = "0.1.0"
    /// The newest MCP revision `initialize` negotiates; one of ``protocolRevisions``.
    public var protocolVersion = "2025-11-25"
    public var host = "127.0.0.1"
    public var port = 8443
    /// Required to serve the public listener without TLS on a non-loopback address.
    public var allowPlaintext = false
    public var httpEnabled = true
    public var httpHost = "127.0.0.1"
    public var httpPort = 9001
    /// Open connections on the ops listener (a scraper and a health check need a few); at
    /// the cap the one waiting longest without a request to serve is closed to make room.
    public var httpMaxConnections = 64
    /// Host names (no port) the ops listener answers for besides `localhost` and IP
    /// literals: a scrape target given by DNS name. Any other `Host` gets 421 (DNS rebinding).
    public var httpAllowedHosts: [String] = []
    public var apiEnabled = true
    public var apiPort = 0
    /// Secret. The Go server's single API token; prefer `auth.tokens`.
    public var apiToken = ""
    public var sseEnabled = false
    public var ssePort = 0
    public var ssePingInterval = ConfigDuration.seconds(30)
    /// How a Streamable HTTP POST is answered: one JSON body, or an SSE stream.
    public var responseMode = ResponseMode.json
    public var getStreamEnabled = true
    /// Allowed `Origin` values; empty = only requests without Origin or from the same host.
    public var allowedOrigins: [String] = []
    public var resumability = false
    public var replayBufferEvents = 256
    public var replayBufferBytes = ByteSize.mebibytes(1)
    public var replayMaxStreams = 64
    public var sessionIdleTimeout = ConfigDuration.minutes(30)
    public var shutdownGrace = ConfigDuration.seconds(10)
    /// After the grace, how long cancelling what still runs may take before the process
    /// exits anyway (status 70): only code that ignores cancellation ever reaches it.
    public var shutdownCancelTimeout = ConfigDuration.seconds(5)
    public var pageSize = 50
    public var maxBody = ByteSize.mebibytes(4)
    public var maxJsonDepth = 64
    /// JSON values (each string, number, literal, array and object) in one message: bounds
    /// the parse's memory, which the byte cap alone does not (`[1,1,...]` is two bytes a value).
    public var maxJsonValues = 100_000
    /// Messages in one JSON-RPC batch (2025-03-26 sessions and the Go API take batches).
    public var maxBatch = 64
    /// About the most bytes one batch's answers take together: they are held until the last
    /// is ready; past it the batch's remaining requests are answered with an error, not run.
    public var maxBatchAnswerBytes = ByteSize.mebibytes(8)

    public init() {}

    /// The session-era revisions the server negotiates. MCPCore's `ProtocolVersion.sessionEra`
    /// has the same (Config imports no other module; ServerTests checks that they agree).
    public static let protocolRevisions = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
}

public enum ResponseMode: String, ConfigEnum {
    case json, sse
}
