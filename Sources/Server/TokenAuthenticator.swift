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

    public func authenticate(authorization: String?, clientAddress: String) -> AuthOutcome {
        authenticate(authorization: authorization, clientAddress: clientAddress, connection: nil)
    }

    public func authenticate(authorization: String?, clientAddress: String, connection: ConnectionMemo?) -> AuthOutcome {
        let key = connection?.addressKey(clientAddress) ?? ClientAddressKey(ip: clientAddress)
        let now = MonotonicClock.now()
        if let key, case .lockedOut(let retryAfter) = failures.withLock({ $0.check(key, now: now) }) {
            return .denied(reason: "locked_out", message: "Too many failed authentication attempts",
                           tokenPresented: false, retryAfter: Int((retryAfter + 999_999_999) / 1_000_000_000))
        }
        let verifier = self.verifier.withLock { $0 }
        let decision: AuthDecision
        if let connection {
            var credential = connection.credential
            decision = verifier.verify(authorization: authorization, now: Date(), remembering: &credential)
            if case .accepted = decision { connection.credential = credential }
        } else {
            decision = verifier.verify(authorization: authorization, now: Date())
        }
        switch decision {
        case .accepted(let token):
            return .allowed(MCPSession.Principal(name: token.name, allowsWrites: token.allows(writes: true)))
        case .rejected(let failure):
            // A missing header counts too: otherwise a client could send unauthenticated
            // requests forever without reaching the lockout.
            if let key {
                let lockedOut = failures.withLock { $0.recordFailure(key, now: now) }
                if lockedOut { metrics?.counter(.authLockouts).increment() }
            }
            let message = switch failure {
            case .missing: "Missing Authorization header"
            case .malformed, .tooLong: "Invalid Authorization header format"
            case .invalid: "Invalid API token"
            case .expired: "API token expired"
            }
            return .denied(reason: failure.reason, message: message, tokenPresented: failure != .missing, retryAfter: nil)
        }
    }
}
