/// The whole server configuration. Every property has a default (the embedded defaults
/// layer); YAML keys are the snake_case spelling of the property names.
///
/// Load it with `ConfigLoader`; render it with `rendered(redacted:)`.
public struct AppConfig: Codable, Sendable, Equatable {
    public var server = ServerConfig()
    public var log = LogConfig()
    public var tls = TLSConfig()
    public var auth = AuthConfig()
    public var limits = LimitsConfig()
    public var timeout = TimeoutConfig()
    public var tools = ToolsConfig()
    public var grafana = GrafanaConfig()
    public var portainer = BackendConfig()
    public var silverbullet = BackendConfig()
    public var vikunja = BackendConfig()
    public var prometheus = PrometheusConfig()

    public init() {}
}
