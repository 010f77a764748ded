/// What a token may do. A `read` token may call read-only tools; `write` is needed for tools
/// that change something (HTTP 403 `insufficient_scope` otherwise, RFC 6750 §3.1).
public enum TokenScope: String, Sendable, Hashable, CaseIterable, Codable {
    case read
    case write
}
