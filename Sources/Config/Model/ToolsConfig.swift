/// `tools`: which tools are registered and how large a result may be.
public struct ToolsConfig: Codable, Sendable, Equatable {
    /// Tool names to register; empty = all.
    public var enabled: [String] = []
    public var disabled: [String] = []
    /// Register only tools annotated read-only.
    public var readOnly = false
    public var maxResultBytes = ByteSize.mebibytes(1)
    /// Requests in progress to one backend at once; a request past it waits for one to end,
    /// within its own deadline.
    public var maxBackendConnections = 32

    public init() {}
}
