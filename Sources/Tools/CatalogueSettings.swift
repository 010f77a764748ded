/// How to reach one backend. A backend's tools exist only when it is enabled and has a URL.
public struct BackendSettings: Sendable, Hashable {
    public var url: String
    /// Bearer token (Grafana, Vikunja, SilverBullet, Prometheus), API key (Portainer), or
    /// `user:pass` for SilverBullet's Basic auth. Never logged.
    public var token: String
    /// Basic auth for Prometheus (used when both are set and there is no token).
    public var username: String?
    public var password: String?
    public var enabled: Bool
    /// CA bundle for this backend's https certificate; nil uses ``CatalogueSettings/caFile``.
    public var caFile: String?
    /// Request deadline for this backend; nil uses ``CatalogueSettings/httpTimeout``.
    public var timeout: Duration?

    public init(
        url: String, token: String = "", username: String? = nil, password: String? = nil, enabled: Bool = true,
        caFile: String? = nil, timeout: Duration? = nil
    ) {
        self.caFile = caFile
        self.timeout = timeout
        self.url = url
        self.token = token
        self.username = username
        self.password = password
        self.enabled = enabled
    }

    var isActive: Bool { enabled && !url.isEmpty }
}

/// Everything the catalogue needs from the configuration (the Config module maps its
/// file onto this; the Tools module does not import Config).
public struct CatalogueSettings: Sendable, Hashable {
    public var grafana: BackendSettings?
    public var prometheus: BackendSettings?
    public var portainer: BackendSettings?
    public var silverbullet: BackendSettings?
    public var vikunja: BackendSettings?
    /// Deadline of one backend request (connect + TLS + response).
    public var httpTimeout: Duration
    /// Deadline of one tool call (it may make several requests); set as the tool's timeout.
    public var operationTimeout: Duration
    /// Passed to the TLS handler provider by whoever builds the client; kept here so one
    /// struct carries the whole tools configuration.
    public var skipVerify: Bool
    public var caFile: String?
    /// Tool results longer than this are truncated with a note; a backend response longer
    /// than four times this is refused as `too_large`.
    public var maxResultBytes: Int
    /// Hides every tool that writes (``ToolDefinition/writes``).
    public var readOnly: Bool
    /// Hosts `grafana_create_datasource` may name (``DatasourceURLPolicy``); empty means
    /// any but link-local and unspecified addresses.
    public var grafanaDatasourceHosts: [String]
    /// Glob patterns (`*`, `?`) of tool names to offer; empty means all.
    public var enabledTools: [String]
    /// Glob patterns of tool names to hide; applied after ``enabledTools``.
    public var disabledTools: [String]

    public init(
        grafana: BackendSettings? = nil, prometheus: BackendSettings? = nil, portainer: BackendSettings? = nil,
        silverbullet: BackendSettings? = nil, vikunja: BackendSettings? = nil,
        httpTimeout: Duration = .seconds(30), operationTimeout: Duration = .seconds(60),
        skipVerify: Bool = false, caFile: String? = nil, maxResultBytes: Int = 1 << 20, readOnly: Bool = false,
        grafanaDatasourceHosts: [String] = [], enabledTools: [String] = [], disabledTools: [String] = []
    ) {
        self.grafana = grafana
        self.prometheus = prometheus
        self.portainer = portainer
        self.silverbullet = silverbullet
        self.vikunja = vikunja
        self.httpTimeout = httpTimeout
        self.operationTimeout = operationTimeout
        self.skipVerify = skipVerify
        self.caFile = caFile
        self.maxResultBytes = maxResultBytes
        self.readOnly = readOnly
        self.grafanaDatasourceHosts = grafanaDatasourceHosts
        self.enabledTools = enabledTools
        self.disabledTools = disabledTools
    }
}
