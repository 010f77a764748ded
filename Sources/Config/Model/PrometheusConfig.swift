/// `prometheus`: optional bearer token or basic auth.
public struct PrometheusConfig: Codable, Sendable, Equatable {
    public var url = ""
    public var enabled = true
    /// Secret.
    public var token = ""
    public var username = ""
    /// Secret.
    public var password = ""

    public init() {}

    public var isActive: Bool { enabled && !url.isEmpty }
}
