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
    private let limiter: Mutex<State>
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
    /// There from the start, at 0 (an alert on its increase missed the first evictions).
    private let evicted: Counter?

    public init?(name: String, ratePerSecond: Double, burst: Int, capacity: Int, metrics: ServerMetrics?) {
        guard ratePerSecond > 0, let gcra = GCRA(ratePerSecond: ratePerSecond, burst: max(1, burst)) else { return nil }
        self.name = name
        self.gcra = gcra
        limiter = Mutex(State(table: KeyedRateLimiter(gcra: gcra, capacity: max(1, capacity))))
        self.metrics = metrics
        let window = max(1, Int((gcra.window + 999_999_999) / 1_000_000_000))
        policyHeader = "\"\(name)\";q=\(gcra.burst);w=\(window)"
        policyField = HTTPField(name: .rateLimitPolicy, value: policyHeader)
        remainingPrefix = "\"\(name)\";r="
        allowed = metrics?.counter(.rateLimitDecisions, name, "allowed")
        limited = metrics?.counter(.rateLimitDecisions, name, "limited")
        keys = metrics?.gauge(.rateLimitKeys, name)
        evicted = metrics?.counter(.rateLimitEvictions, name)
    }

    /// The key table, and what each caller of ``decide(principal:)`` needs per request, made
    /// once per token name: one lock for both.
    private struct State {
        var table: KeyedRateLimiter<String>
        var callers: [String: Caller] = [:]

        /// The entry of token `name`, made on its first request. Names come from configured
        /// tokens only, but reloads can bring new ones: past the key table's capacity the entries
        /// are dropped and remade as requests come (a cache, so nothing is lost).
        mutating func caller(_ name: String, metrics: ServerMetrics?) -> Caller {
            if let caller = callers[name] { return caller }
            if callers.count >= table.capacity { callers.removeAll() }
            let caller = Caller(key: "token:" + name,
                                allowed: metrics?.counter(.tokenRequests, name, "allowed"),
                                limited: metrics?.counter(.tokenRequests, name, "rate_limited"))
            callers[name] = caller
            return caller
        }
    }

    /// A token's key in the table and its `mcp_token_requests_total` children. Building the
    /// key and looking up the two children (hashing both labels under the metrics lock) on
    /// every request cost more than the decision.
    private struct Caller {
        let key: String
        let allowed: Counter?
        let limited: Counter?
    }

    public func decide(_ key: String, now: Nanoseconds = MonotonicClock.now()) -> GCRA.Decision {
        let (decision, evictions) = limiter.withLock { state in
            let before = state.table.evictions
            let decision = state.table.decide(key, now: now)
            // Set under the lock: two decisions on two threads setting it after could leave
            // the older count showing.
            keys?.set(to: Double(state.table.count))
            return (decision, state.table.evictions - before)
        }
        record(decision, evictions: evictions)
        return decision
    }

    private func record(_ decision: GCRA.Decision, evictions: UInt64) {
        switch decision {
        case .allow: allowed?.increment()
        case .deny: limited?.increment()
        }
        if evictions > 0 { evicted?.increment(by: Int64(evictions)) }
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
    func decide(principal: MCPSession.Principal, now: Nanoseconds = MonotonicClock.now()) -> GCRA.Decision {
        let (decision, caller, evictions) = limiter.withLock { state in
            let caller = state.caller(principal.name, metrics: metrics)
            let before = state.table.evictions
            let decision = state.table.decide(caller.key, now: now)
            keys?.set(to: Double(state.table.count))
            return (decision, caller, state.table.evictions - before)
        }
        record(decision, evictions: evictions)
        switch decision {
        case .allow: caller.allowed?.increment()
        case .deny: caller.limited?.increment()
        }
        return decision
    }

    /// Charges `cost` more requests to the token, with no decision: a request let in as one
    /// turned out to be more (a batch's further messages). Its next requests wait until the
    /// debt is repaid, so over time the token keeps to its rate.
    func charge(principal: MCPSession.Principal, cost: Int, now: Nanoseconds = MonotonicClock.now()) {
        limiter.withLock { state in
            let caller = state.caller(principal.name, metrics: metrics)
            state.table.charge(caller.key, now: now, cost: cost)
        }
    }

    /// 429 with Retry-After, the RateLimit headers and a JSON-RPC error body.
    func refusal(retryAfter: Nanoseconds, statelessEra: Bool) -> Response {
        let seconds = max(1, Int((retryAfter + 999_999_999) / 1_000_000_000))
        return HTTPReplies.refusal(.tooManyRequests, "Rate limit exceeded; retry after \(seconds) s", statelessEra: statelessEra,
                                    data: ["retryAfter": .int(Int64(seconds))],
                                    headers: [.retryAfter: String(seconds),
                                              .rateLimitPolicy: policyHeader,
                                              .rateLimit: "\"\(name)\";r=0;t=\(seconds)"])
    }
}
