/// A cap a tool call reached, counted in `mcp_tool_limits_total{tool,limit}`: the answer
/// still goes out (a cut result with a note, or an `isError` result), but an operator sees
/// which tools run into `tools.max_result_bytes` and may raise it or narrow the tool.
public enum ToolLimit: String, Sendable, CaseIterable {
    /// The result was cut at `tools.max_result_bytes`.
    case resultBytes = "result_bytes"
    /// A backend's answer passed its byte cap (a multiple of `tools.max_result_bytes`) and
    /// was refused (or, in a search, the page skipped).
    case backendResponseBytes = "backend_response_bytes"
    /// A list or search stopped at the pages it may read (Vikunja: 20 pages, or the response
    /// cap's worth; SilverBullet search: 200 pages or 50 results); the result says so.
    case backendPages = "backend_pages"
    /// A list or search stopped reading pages to answer before the call's deadline, with
    /// what it had read; the result says so.
    case deadline = "deadline"
    /// A list or search stopped at a backend failure (a page that timed out on its own, a 429
    /// or 5xx, a lost connection) after it had read part of what it reads, and answered with
    /// that part, naming the failure. Not a cap, but the same kind of cut-short answer, and an
    /// operator sees it only here: the call itself succeeds (`outcome="ok"`). Counted before
    /// any other limit the same result reached.
    case backendError = "backend_error"
}
