/// `grafana`: the backend keys of ``BackendConfig`` plus the hosts a created data source may
/// point Grafana at.
public struct GrafanaConfig: Codable, Sendable, Equatable {
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
    /// Hosts `grafana_create_datasource` may name in a data source's URL: host name globs
    /// (`*.svc.cluster.local`) or address blocks (`10.0.0.0/8`). Empty allows any host but
    /// link-local and unspecified addresses, which are always refused.
    public var datasourceHosts: [String] = []

    public init() {}

    /// The keys every backend shares.
    public var backend: BackendConfig {
        var backend = BackendConfig()
        backend.url = url
        backend.token = token
        backend.tokenFile = tokenFile
        backend.enabled = enabled
        backend.timeout = timeout
        backend.caFile = caFile
        return backend
    }

    public var isActive: Bool { enabled && !url.isEmpty }
}
