/// `prometheus`: optional bearer token or basic auth.
public struct PrometheusConfig: Codable, Sendable, Equatable {
    public var url = ""
    public var enabled = true
    /// Secret.
    public var token = ""
    /// Read the bearer token from this file instead (trailing newline ignored).
    public var tokenFile = ""
    public var username = ""
    /// Secret.
    public var password = ""
    /// Request deadline for this backend; 0 uses `timeout.http`.
    public var timeout = ConfigDuration(milliseconds: 0)
    /// CA bundle for this backend's certificate; empty uses `tls.ca_file` or the system store.
    public var caFile = ""

    public init() {}

    public var isActive: Bool { enabled && !url.isEmpty }
}
