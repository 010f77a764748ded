/// `grafana`, `portainer`, `silverbullet`, `vikunja`: a backend's tools are registered only
/// when it is enabled and has a URL (as in the Go server).
public struct BackendConfig: Codable, Sendable, Equatable {
    public var url = ""
    /// Secret.
    public var token = ""
    /// Read the token from this file instead (trailing newline ignored).
    public var tokenFile = ""
    public var enabled = true
    /// Request deadline for this backend; 0 uses `timeout.http`.
    public var timeout = ConfigDuration(milliseconds: 0)
    /// CA bundle for this backend's certificate; empty uses `tls.ca_file` or the system store.
    public var caFile = ""

    public init() {}

    /// Enabled with a URL.
    public var isActive: Bool { enabled && !url.isEmpty }
}
