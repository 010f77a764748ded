/// The MCP revisions this server speaks.
///
/// Two eras: the session era (2024-11-05 … 2025-11-25), negotiated once by `initialize`
/// (2025-11-25 basic/lifecycle.mdx "Version Negotiation"), and the stateless era
/// (2026-07-28), where every request names its version in `_meta` and `server/discover`
/// advertises what we support (2026-07-28 basic/versioning.mdx).
public enum ProtocolVersion {
    public static let sessionEra = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    public static let statelessEra = ["2026-07-28"]
    /// Newest first, as `server/discover` lists them.
    public static let all = statelessEra + sessionEra
    public static let latestSessionEra = "2025-11-25"

    /// The version the server answers `initialize` with: the client's when we support it
    /// and it is not newer than `newest` (`server.protocol_version`), else `newest` (the
    /// client then decides whether to disconnect).
    public static func negotiate(requested: String?, newest: String = latestSessionEra) -> String {
        if let requested, sessionEra.contains(requested), requested <= newest { return requested }
        return newest
    }

    /// What a server whose newest session-era revision is `newest` supports, newest first,
    /// as `server/discover` lists them. The stateless era is not negotiated by `initialize`,
    /// so `newest` leaves it alone.
    public static func supported(newestSessionEra newest: String) -> [String] {
        statelessEra + sessionEra.filter { $0 <= newest }
    }

    /// Whether a session of `version` may send JSON-RPC batches: 2025-03-26 added them
    /// (basic/index.mdx "Batching"; 2024-11-05 servers took them as JSON-RPC 2.0 §6 has
    /// them), 2025-06-18 removed them (changelog.mdx "Major changes" 1), and 2026-07-28 has
    /// none. A session that negotiated nothing (the Go server's API) keeps them.
    public static func allowsBatches(_ version: String?) -> Bool {
        guard let version else { return true }
        return version < "2025-06-18"
    }

    /// Why a stateless request's `_meta` is malformed, or nil: 2026-07-28 basic/index.mdx
    /// "Per-request protocol fields" requires the protocol version and the client's
    /// capabilities on every request, and a request without them MUST be refused with
    /// -32602 (on HTTP, a 400). A log level that is not one of the eight (server/utilities/
    /// logging.mdx "Error Handling": the server SHOULD reject it with -32602) is refused too:
    /// it was dropped, and the request served as if it had asked for no logs.
    public static func missingRequestFields(_ meta: JSONValue?) -> String? {
        guard case .object(let meta)? = meta else {
            return "Invalid params: params._meta must be an object carrying \(metaKey) and \(clientCapabilitiesKey)"
        }
        let missing = [metaKey, clientCapabilitiesKey].filter { meta[$0] == nil }
        if !missing.isEmpty { return "Invalid params: params._meta lacks \(missing.joined(separator: " and "))" }
        // A string (schema.json); a number here is malformed, not an unsupported version.
        guard case .string = meta[metaKey] else { return "Invalid params: \(metaKey) must be a string" }
        guard case .object = meta[clientCapabilitiesKey] else { return "Invalid params: \(clientCapabilitiesKey) must be an object" }
        if let level = meta[logLevelKey], level.stringValue.flatMap(LogLevel.init(rawValue:)) == nil {
            return "Invalid log level: \(logLevelKey) must be one of " + LogLevel.allCases.map(\.rawValue).joined(separator: ", ")
        }
        return nil
    }

    /// `_meta` key of a stateless request's protocol version.
    public static let metaKey = "io.modelcontextprotocol/protocolVersion"
    public static let clientInfoKey = "io.modelcontextprotocol/clientInfo"
    public static let clientCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities"
    public static let logLevelKey = "io.modelcontextprotocol/logLevel"
    public static let serverInfoKey = "io.modelcontextprotocol/serverInfo"
}
