/// `grafana`, `portainer`, `silverbullet`, `vikunja`: a backend's tools are registered only
/// when it is enabled and has a URL (as in the Go server).
public struct BackendConfig: Codable, Sendable, Equatable {
    public var url = ""
    /// Secret.
    public var token = ""
    public var enabled = true

    public init() {}

    /// Enabled with a URL.
    public var isActive: Bool { enabled && !url.isEmpty }
}
