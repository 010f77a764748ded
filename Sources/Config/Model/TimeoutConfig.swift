/// `timeout`: outbound HTTP requests and whole tool operations.
public struct TimeoutConfig: Codable, Sendable, Equatable {
    public var http = ConfigDuration.seconds(30)
    public var operation = ConfigDuration.seconds(60)

    public init() {}
}

/// `tools`: which tools are registered and how large a result may be.
public struct ToolsConfig: Codable, Sendable, Equatable {
    /// Tool names to register; empty = all.
    public var enabled: [String] = []
    public var disabled: [String] = []
    /// Register only tools annotated read-only.
    public var readOnly = false
    public var maxResultBytes = ByteSize.mebibytes(1)

    public init() {}
}
