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

    public init?(name: String, ratePerSecond: Double, burst: Int, capacity: Int, metrics: ServerMetrics?) {
        guard ratePerSecond > 0, let gcra = GCRA(ratePerSecond: ratePerSecond, burst: max(1, burst)) else { return nil }
        self.name = name
        self.gcra = gcra
        limiter = Mutex(KeyedRateLimiter(gcra: gcra, capacity: max(1, capacity)))
        self.metrics = metrics
    }

    public func decide(_ key: String, now: Nanoseconds = MonotonicClock.now()) -> GCRA.Decision {
        let (decision, count, evictions) = limiter.withLock { limiter in
            let before = limiter.evictions
            let decision = limiter.decide(key, now: now)
            return (decision, limiter.count, limiter.evictions - before)
        }
        if let metrics {
            switch decision {
            case .allow: metrics.counter(.rateLimitDecisions, name, "allowed").increment()
            case .deny: metrics.counter(.rateLimitDecisions, name, "limited").increment()
            }
            metrics.gauge(.rateLimitKeys, name).set(to: Double(count))
            if evictions > 0 { metrics.counter(.rateLimitEvictions, name).increment(by: Int64(evictions)) }
        }
        return decision
    }

    /// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): quota and window.
    var policyHeader: String {
        let window = max(1, Int((gcra.window + 999_999_999) / 1_000_000_000))
        return "\"\(name)\";q=\(gcra.burst);w=\(window)"
    }
}

/// Per-client request rate limit, after authentication: keyed by token name (DESIGN.md
/// request path), so one client's flood cannot starve another token. 429 carries
/// Retry-After, the RateLimit headers and a JSON-RPC error body.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = MCPRequestContext
    let limiter: SharedRateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let key = context.principal.map { "token:\($0.name)" } ?? "ip:\(context.clientAddress)"
        let decision = limiter.decide(key)
        if let name = context.principal?.name {
            let outcome = if case .allow = decision { "allowed" } else { "rate_limited" }
            limiter.metrics?.counter(.tokenRequests, name, outcome).increment()
        }
        switch decision {
        case .allow(let remaining):
            var response = try await next(request, context)
            response.headers[HTTPField.Name("RateLimit-Policy")!] = limiter.policyHeader
            response.headers[HTTPField.Name("RateLimit")!] = "\"\(limiter.name)\";r=\(remaining)"
            return response
        case .deny(let retryAfter):
            let seconds = max(1, Int((retryAfter + 999_999_999) / 1_000_000_000))
            return HTTPReplies.rpcError(.tooManyRequests, .serverError, "Rate limit exceeded; retry after \(seconds) s",
                                        data: ["retryAfter": .int(Int64(seconds))],
                                        headers: [.retryAfter: String(seconds),
                                                  HTTPField.Name("RateLimit-Policy")!: limiter.policyHeader,
                                                  HTTPField.Name("RateLimit")!: "\"\(limiter.name)\";r=0;t=\(seconds)"])
        }
    }
}
