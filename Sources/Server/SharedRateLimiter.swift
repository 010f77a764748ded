import Foundation
import HTTPTypes
import Hummingbird
import MCPCore
import Prometheus
import RateLimit
import Synchronization

/// A GCRA limiter over a bounded key table, shared by every connection.
public final class SharedRateLimiter: Sendable {
    public let name: String
    let gcra: GCRA
    private let limiter: Mutex<KeyedRateLimiter<String>>
    let metrics: ServerMetrics?
    /// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): quota and window; fixed.
    let policyHeader: String
    /// The same as a field, made once: it goes on every allowed response.
    let policyField: HTTPField
    /// `RateLimit` up to its remaining quota: `"name";r=`.
    private let remainingPrefix: String
    /// This limiter's metric children, looked up once instead of on every decision.
    private let allowed: Counter?
    private let limited: Counter?
    private let keys: Gauge?

    public init?(name: String, ratePerSecond: Double, burst: Int, capacity: Int, metrics: ServerMetrics?) {
        guard ratePerSecond > 0, let gcra = GCRA(ratePerSecond: ratePerSecond, burst: max(1, burst)) else { return nil }
        self.name = name
        self.gcra = gcra
        limiter = Mutex(KeyedRateLimiter(gcra: gcra, capacity: max(1, capacity)))
        self.metrics = metrics
        let window = max(1, Int((gcra.window + 999_999_999) / 1_000_000_000))
        policyHeader = "\"\(name)\";q=\(gcra.burst);w=\(window)"
        policyField = HTTPField(name: .rateLimitPolicy, value: policyHeader)
        remainingPrefix = "\"\(name)\";r="
        allowed = metrics?.counter(.rateLimitDecisions, name, "allowed")
        limited = metrics?.counter(.rateLimitDecisions, name, "limited")
        keys = metrics?.gauge(.rateLimitKeys, name)
    }

    public func decide(_ key: String, now: Nanoseconds = MonotonicClock.now()) -> GCRA.Decision {
        let (decision, count, evictions) = limiter.withLock { limiter in
            let before = limiter.evictions
            let decision = limiter.decide(key, now: now)
            return (decision, limiter.count, limiter.evictions - before)
        }
        switch decision {
        case .allow: allowed?.increment()
        case .deny: limited?.increment()
        }
        keys?.set(to: Double(count))
        if evictions > 0 { metrics?.counter(.rateLimitEvictions, name).increment(by: Int64(evictions)) }
        return decision
    }
}

extension SharedRateLimiter {
    /// `RateLimit` with the quota left (draft-ietf-httpapi-ratelimit-headers).
    func remainingField(_ remaining: Int) -> HTTPField {
        HTTPField(name: .rateLimit, value: remainingPrefix + String(remaining))
    }
}

extension HTTPField.Name {
    static let rateLimitPolicy = Self("RateLimit-Policy")!
    static let rateLimit = Self("RateLimit")!
}

extension SharedRateLimiter {
    /// The per-client request rate limit, after authentication: keyed by token name
    /// (DESIGN.md request path), so one client's flood cannot starve another token.
    func decide(principal: MCPSession.Principal) -> GCRA.Decision {
        let decision = decide("token:" + principal.name)
        let outcome = if case .allow = decision { "allowed" } else { "rate_limited" }
        metrics?.counter(.tokenRequests, principal.name, outcome).increment()
        return decision
    }

    /// 429 with Retry-After, the RateLimit headers and a JSON-RPC error body.
    func refusal(retryAfter: Nanoseconds) -> Response {
        let seconds = max(1, Int((retryAfter + 999_999_999) / 1_000_000_000))
        return HTTPReplies.rpcError(.tooManyRequests, .serverError, "Rate limit exceeded; retry after \(seconds) s",
                                    data: ["retryAfter": .int(Int64(seconds))],
                                    headers: [.retryAfter: String(seconds),
                                              .rateLimitPolicy: policyHeader,
                                              .rateLimit: "\"\(name)\";r=0;t=\(seconds)"])
    }
}
