/// `timeout`: outbound HTTP requests and whole tool operations.
public struct TimeoutConfig: Codable, Sendable, Equatable {
    public var http = ConfigDuration.seconds(30)
    public var operation = ConfigDuration.seconds(60)

    public init() {}
}
