/// A cap a tool call reached, counted in `mcp_tool_limits_total{tool,limit}`: the answer
/// still goes out (a cut result with a note, or an `isError` result), but an operator sees
/// which tools run into `tools.max_result_bytes` and may raise it or narrow the tool.
public enum ToolLimit: String, Sendable, CaseIterable {
    /// The result was cut at `tools.max_result_bytes`.
    case resultBytes = "result_bytes"
    /// A backend's answer passed its byte cap (a multiple of `tools.max_result_bytes`) and
    /// was refused.
    case backendResponseBytes = "backend_response_bytes"
}
