/// Hooks the server uses to export metrics. Labels must stay bounded: the dispatcher only
/// reports known method names (anything else is `"other"`) and registered tool names.
public protocol MCPObserver: Sendable {
    func requestFinished(method: String, transport: String, duration: Duration, errorCode: Int?)
    func toolCallFinished(tool: String, outcome: ToolCallOutcome, duration: Duration)
    /// A message (or a whole request) was refused at an input cap.
    func inputRefused(at cap: InputCap)
    /// A tool call reached a cap (its answer says so).
    func toolLimitReached(tool: String, limit: ToolLimit)
}

extension MCPObserver {
    public func inputRefused(at cap: InputCap) {}
    public func toolLimitReached(tool: String, limit: ToolLimit) {}
}

/// How a tool call ended, for `mcp_tool_calls_total{tool,outcome}`.
public enum ToolCallOutcome: String, Sendable {
    case ok, error, invalidArguments = "invalid_arguments", timeout, cancelled
}
