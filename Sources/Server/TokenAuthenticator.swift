import Auth
import Foundation
import MCPCore
import Prometheus
import RateLimit
import Synchronization

/// The production authenticator: the Auth module's constant-time verifier behind a
/// per-address failure limiter. The token store can be swapped at run time (SIGHUP).
public final class TokenAuthenticator: RequestAuthenticator {
    private let verifier: Mutex<TokenVerifier>
    private let failures: Mutex<AuthFailureLimiter<ClientAddressKey>>
    private let metrics: ServerMetrics?

    public init(store: TokenStore, maxHeaderBytes: Int, failureLimit: AuthFailureLimiter<ClientAddressKey>.Configuration, metrics: ServerMetrics?) {
        verifier = Mutex(TokenVerifier(store: store, maxHeaderLength: maxHeaderBytes))
        failures = Mutex(AuthFailureLimiter(failureLimit))
        self.metrics = metrics
    }

    /// Replaces the tokens (SIGHUP); requests already authenticated keep their principal.
    public func replace(store: TokenStore) {
        verifier.withLock { $0 = TokenVerifier(store: store, maxHeaderLength: $0.maxHeaderLength) }
    }

    public var tokenCount: Int { verifier.withLock { $0.store.count } }

    /// A token whose secret was rotated under the same name is not current for the old
    /// secret's sessions: the credential is compared, not just the name. (Not a secret
    /// comparison: both sides are digests the server holds, so it need not be constant time.)
    public func isCurrent(principal: MCPSession.Principal) -> Bool {
        let now = Date()
        return verifier.withLock { verifier in
            verifier.store.tokens.contains { token in
                token.name == principal.name && Self.credential(of: token) == principal.credential
                    && !token.isExpired(at: now) && (!principal.allowsWrites || token.allows(writes: true))
            }
        }
    }

    /// What a principal carries to tell this token's secret from the one a rotation replaces
    /// it with: its digest (the same whether configured as a secret or as `sha256:`), and the
    /// certificate it is bound to, if any: binding a leaked token (or binding it to another
    /// certificate) by a reload ends the sessions made without that certificate.
    /// Without a bound certificate it shares the digest's bytes: every authenticated request
    /// makes one, and concatenating an empty array still copied the digest.
    static func credential(of token: StoredToken) -> MCPSession.Principal.Credential {
        guard let certificate = token.clientCertificate else { return MCPSession.Principal.Credential(token.digest.bytes) }
        return MCPSession.Principal.Credential(token.digest.bytes + certificate.bytes)
    }

    public func authenticate(authorization: String?, clientAddress: String) -> AuthOutcome {
        authenticate(authorization: authorization, clientAddress: clientAddress, connection: nil)
    }

    public func authenticate(authorization: String?, clientAddress: String, connection: ConnectionMemo?) -> AuthOutcome {
        let key = connection?.addressKey(clientAddress) ?? ClientAddressKey(ip: clientAddress)
        let verifier = self.verifier.withLock { $0 }
        // The lockout comes before the token: were a valid token let through, a locked-out
        // guesser would still learn which guess was right. A connection presenting again
        // the value it was accepted with is not guessing, though: it passes, so another
        // client's failures from the same address (a NAT, a shared /64) do not cut off a
        // connection that is already working. Its new connections are locked out like any.
        // Only for the address it was accepted from: behind a trusted proxy one connection
        // carries many clients, and another one must not test guesses against it.
        // One read of what the connection remembers serves both uses: this check, and
        // sparing the hash below.
        let remembered = connection?.credential(from: clientAddress)
        let recognised = verifier.recognises(authorization, remembered: remembered)
        // The clocks are read only where they are needed: a recognised, accepted token (every
        // request of a working client) reads neither.
        if !recognised, let key, case .lockedOut(let retryAfter) = failures.withLock({ $0.check(key, now: MonotonicClock.now()) }) {
            return .denied(reason: "locked_out", message: "Too many failed authentication attempts",
                           tokenPresented: false, retryAfter: Int((retryAfter + 999_999_999) / 1_000_000_000))
        }
        let decision: AuthDecision
        if let connection {
            var credential = remembered
            decision = verifier.verify(authorization: authorization, now: Date(), clientCertificate: connection.clientCertificate,
                                       remembering: &credential)
            if case .accepted = decision { connection.remember(credential, from: clientAddress) }
        } else {
            decision = verifier.verify(authorization: authorization, now: Date())
        }
        switch decision {
        case .accepted(let token):
            return .allowed(MCPSession.Principal(name: token.name, allowsWrites: token.allows(writes: true), credential: Self.credential(of: token)))
        case .rejected(let failure):
            // A missing header counts too: otherwise a client could send unauthenticated
            // requests forever without reaching the lockout.
            var lockoutStarted = false
            if let key {
                let (lockedOut, count, evictions, lockoutsEvicted) = failures.withLock { limiter in
                    let (before, lockoutsBefore) = (limiter.evictions, limiter.lockoutEvictions)
                    let lockedOut = limiter.recordFailure(key, now: MonotonicClock.now())
                    return (lockedOut, limiter.count, limiter.evictions - before, limiter.lockoutEvictions - lockoutsBefore)
                }
                if lockedOut { metrics?.counter(.authLockouts).increment() }
                lockoutStarted = lockedOut
                // The table is bounded; what it holds and what it had to drop are watched like
                // every other limiter's (a flood of addresses flushing lockouts shows here).
                metrics?.gauge(.rateLimitKeys, "auth_failures").set(to: Double(count))
                if evictions > 0 { metrics?.counter(.rateLimitEvictions, "auth_failures").increment(by: Int64(evictions)) }
                if lockoutsEvicted > 0 { metrics?.counter(.authLockoutsEvicted).increment(by: Int64(lockoutsEvicted)) }
            }
            let message = switch failure {
            case .missing: "Missing Authorization header"
            case .malformed, .tooLong: "Invalid Authorization header format"
            case .invalid: "Invalid API token"
            case .expired: "API token expired"
            case .certificateMismatch: "API token is bound to a client certificate this connection did not present"
            }
            return .denied(reason: failure.reason, message: message, tokenPresented: failure != .missing, retryAfter: nil,
                           lockoutStarted: lockoutStarted)
        }
    }
}
