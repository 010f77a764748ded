import Foundation
import Prometheus
import MCPCore

/// Decides who is calling from the `Authorization` header and the client address.
/// The production implementation wraps the Auth module's constant-time verifier.
public protocol RequestAuthenticator: Sendable {
    func authenticate(authorization: String?, clientAddress: String) -> AuthOutcome
    /// The same, for a request on a public connection, which may remember what it parsed and
    /// accepted before (``ConnectionMemo``).
    func authenticate(authorization: String?, clientAddress: String, connection: ConnectionMemo?) -> AuthOutcome
    /// Whether the token behind `principal` would still be accepted with the scopes the
    /// session was made with (it exists, has not expired, and was not narrowed to `read`; a
    /// widened one keeps its sessions): sessions made by one that would not are ended.
    func isCurrent(principal: MCPSession.Principal) -> Bool
}

extension RequestAuthenticator {
    public func isCurrent(principal: MCPSession.Principal) -> Bool { true }

    public func authenticate(authorization: String?, clientAddress: String, connection: ConnectionMemo?) -> AuthOutcome {
        authenticate(authorization: authorization, clientAddress: clientAddress)
    }
}

public enum AuthOutcome: Sendable {
    case allowed(MCPSession.Principal)
    /// `reason` labels the metric; `message` is the client-facing text (the Go server's
    /// wording); `tokenPresented` adds `error="invalid_token"` to the challenge
    /// (RFC 6750 §3.1); `retryAfter` turns the answer into a 429 lockout; `lockoutStarted`:
    /// this failure locked the address out (logged, where the other refusals are not).
    case denied(reason: String, message: String, tokenPresented: Bool, retryAfter: Int?, lockoutStarted: Bool = false)
}
