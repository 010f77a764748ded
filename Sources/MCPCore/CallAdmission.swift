/// Decides whether a tool call may start: the server plugs in its per-token in-flight cap
/// and per-tool rate limit here, so the dispatcher stays free of policy.
public protocol CallAdmission: Sendable {
    /// `caller` is the token name (nil for stdio). A refusal names the HTTP status the
    /// transport should use (429 for this client's limit, 503 for global overload).
    func admit(caller: String?, tool: String) -> CallAdmissionDecision
    /// Ends a call that ``admit(caller:tool:)`` admitted, with the same `caller`. A method,
    /// not a closure handed out with the admission: that was an allocation for every call.
    func release(caller: String?)
}

public enum CallAdmissionDecision: Sendable {
    /// The call may run; ``CallAdmission/release(caller:)`` must follow when it ends.
    case admitted
    case refused(message: String, httpStatus: Int, retryAfterSeconds: Int)
}
