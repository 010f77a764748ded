/// Decides whether a tool call may start: the server plugs in its per-token in-flight cap
/// and per-tool rate limit here, so the dispatcher stays free of policy.
public protocol CallAdmission: Sendable {
    /// `caller` is the token name (nil for stdio). A refusal names the HTTP status the
    /// transport should use (429 for this client's limit, 503 for global overload).
    /// `requestBytes` is about the memory the call's request holds while it runs
    /// (``JSONValue/approximateHeldBytes``).
    func admit(caller: String?, tool: String, requestBytes: Int) -> CallAdmissionDecision
    /// Ends a call that ``admit(caller:tool:requestBytes:)`` admitted, with the same `caller`
    /// and `requestBytes`. A method, not a closure handed out with the admission: that was an
    /// allocation for every call.
    func release(caller: String?, requestBytes: Int)
}

public enum CallAdmissionDecision: Sendable {
    /// The call may run; ``CallAdmission/release(caller:requestBytes:)`` must follow when it ends.
    case admitted
    case refused(message: String, httpStatus: Int, retryAfterSeconds: Int)
}
