/// `limits`: every cap and rate the server enforces. Rates are per second; a rate of 0
/// turns that limiter off (reported by `AppConfig.warnings()`); caps must be positive.
public struct LimitsConfig: Codable, Sendable, Equatable {
    public var maxConnections = 4096
    public var maxConnectionsPerIp = 64
    public var connectionRatePerIp = 20.0
    public var connectionBurstPerIp = 40
    public var connectionRateGlobal = 2000.0
    /// TLS handshakes in progress at once.
    public var maxHandshakes = 256
    /// TLS handshakes in progress at once from one address (IP /32 or /64): a few addresses
    /// holding silent connections must not fill `maxHandshakes`.
    public var maxHandshakesPerIp = 16
    public var headerTimeout = ConfigDuration.seconds(10)
    public var idleTimeout = ConfigDuration.seconds(60)
    public var bodyTimeout = ConfigDuration.seconds(30)
    /// How long data sent to a client may go unacknowledged before the connection is
    /// closed (TCP_USER_TIMEOUT): a peer that vanished, or one that stopped reading with its
    /// window shut. Without it a dead client's SSE stream, whose small pings the kernel keeps
    /// retransmitting, held its slot (and its token's share of streams) for 15 minutes or
    /// more. While the window is shut Linux counts from its first window probe and starts
    /// over only once the window takes the next whole queued segment (up to 64 KiB): a client
    /// reading less than that per timeout, or whose receive buffer is under 64 KiB, is cut
    /// too, though it still reads. Hence minutes, not nginx's 60 s `send_timeout`. 0 turns it off.
    public var sendTimeout = ConfigDuration.seconds(120)
    /// After a refusal, the longest its sending may take, and then how long what the client
    /// still sends is read and dropped before the connection closes (lingering close).
    public var lingerTimeout = ConfigDuration.seconds(2)
    /// Connections the kernel completes and holds for each listening socket until the server
    /// accepts them (`listen(2)`'s backlog, capped by `net.core.somaxconn`); past it, new ones
    /// are dropped while the server is behind.
    public var listenBacklog = 256
    /// Slower request bodies are cut off (per second).
    public var bodyMinRate = ByteSize.kibibytes(1)
    public var maxHeaderBytes = ByteSize.kibibytes(16)
    public var maxHeaderCount = 100
    /// Per client (token name, else IP /32 or /64).
    public var requestRate = 20.0
    public var requestBurst = 40
    public var toolRate = 0.0
    public var toolBurst = 0
    /// Entries in each keyed rate-limit table before the least recently used is evicted.
    public var keyTableCapacity = 100_000
    public var maxSseStreams = 2048
    public var maxSseStreamsPerToken = 64
    public var sseWriteBuffer = ByteSize.kibibytes(256)
    /// Answer bytes all public connections together may hold unsent (writes over 16 KiB not
    /// yet completed); past it the connections longest without the kernel taking any of
    /// theirs are closed. Each connection holds at most one answer, but hundreds of clients that ask for
    /// a large one and never read held hundreds of them.
    public var maxUnsentBytes = ByteSize.mebibytes(256)
    /// Memory all public connections together may hold in request bodies still arriving
    /// (bodies that did not come whole with their head; each counts as its buffer, a power of
    /// two); past it the connections whose bodies have gone longest without progress are
    /// closed. Each body is capped by `server.max_body`, but 4,096 connections could each hold
    /// one all but its last byte.
    public var maxBufferedBodyBytes = ByteSize.mebibytes(256)
    public var maxSessions = 4096
    public var maxSessionsPerToken = 128
    public var maxInflightPerToken = 32
    /// Tool calls running at once, all tokens together (503 beyond).
    public var maxInflight = 1024
    /// Memory the requests of the tool calls running may hold together, each counted as its
    /// parsed request (503 beyond, unless no call holds any). A call's request stays in memory
    /// while it runs: 1,024 calls with 4 MiB bodies held 4.5 GiB.
    public var maxInflightRequestBytes = ByteSize.mebibytes(1024)
    /// CIDRs whose forwarding header is believed; empty = none. Peers in them are exempt from
    /// the per-IP connection limits (`maxConnectionsPerIp`, `maxHandshakesPerIp`,
    /// `connectionRatePerIp`), not from the global ones.
    public var trustedProxies: [String] = []
    /// The one header those proxies write: `x-forwarded-for` or `forwarded`.
    public var forwardedHeader = ForwardedHeader.xForwardedFor
    /// IPv6 clients are one client per prefix of this length (32...64) for every per-address
    /// limit: a subscriber gets at least a /64, and often a /56 or a /48.
    public var ipv6Prefix = 64

    public init() {}
}

public enum ForwardedHeader: String, ConfigEnum {
    case xForwardedFor = "x-forwarded-for"
    case forwarded
}
