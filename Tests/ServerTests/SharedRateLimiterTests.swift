import MCPCore
import RateLimit
import Testing
@testable import MCPServerKit

/// The per-token request limit (DESIGN.md request path: after authentication, keyed by token
/// name) and what it exports per token, including when its per-token cache is full.
@Suite struct SharedRateLimiterTests {
    func principal(_ name: String) -> MCPSession.Principal {
        MCPSession.Principal(name: name, allowsWrites: true)
    }

    func isAllowed(_ decision: GCRA.Decision) -> Bool {
        if case .allow = decision { true } else { false }
    }

    @Test func eachTokenHasItsOwnBudgetAndCounts() throws {
        let metrics = ServerMetrics()
        // 1/s with a burst of 2: a third request within the same instant is refused.
        let limiter = try #require(SharedRateLimiter(name: "request", ratePerSecond: 1, burst: 2, capacity: 16, metrics: metrics))
        let now: Nanoseconds = 1_000_000_000_000
        #expect(isAllowed(limiter.decide(principal: principal("a"), now: now)))
        #expect(isAllowed(limiter.decide(principal: principal("a"), now: now)))
        #expect(!isAllowed(limiter.decide(principal: principal("a"), now: now)))
        #expect(isAllowed(limiter.decide(principal: principal("b"), now: now)), "b is not charged for a's requests")
        #expect(isAllowed(limiter.decide(principal: principal("a"), now: now + 1_000_000_000)), "a second later a has one again")
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains(#"mcp_token_requests_total{token="a",outcome="allowed"} 3"#))
        #expect(text.contains(#"mcp_token_requests_total{token="a",outcome="rate_limited"} 1"#))
        #expect(text.contains(#"mcp_token_requests_total{token="b",outcome="allowed"} 1"#))
        #expect(text.contains(#"mcp_ratelimit_decisions_total{limiter="request",outcome="limited"} 1"#))
    }

    /// The per-token entries are capped by the key table's capacity; past it they are dropped
    /// and remade, and no request goes uncounted.
    @Test func moreTokensThanTheCacheHoldsAreAllCounted() throws {
        let metrics = ServerMetrics()
        let limiter = try #require(SharedRateLimiter(name: "request", ratePerSecond: 1, burst: 1, capacity: 2, metrics: metrics))
        let now: Nanoseconds = 1_000_000_000_000
        var allowed: [String: Int] = [:]
        for round in 0..<3 {
            for name in ["a", "b", "c"] where isAllowed(limiter.decide(principal: principal(name), now: now + UInt64(round))) {
                allowed[name, default: 0] += 1
            }
        }
        let text = String(decoding: metrics.render(), as: UTF8.self)
        for name in ["a", "b", "c"] {
            let yes = allowed[name, default: 0]
            #expect(yes >= 1)
            #expect(text.contains(#"mcp_token_requests_total{token="\#(name)",outcome="allowed"} \#(yes)"#))
            if yes < 3 { #expect(text.contains(#"mcp_token_requests_total{token="\#(name)",outcome="rate_limited"} \#(3 - yes)"#)) }
        }
        #expect(text.contains(#"mcp_ratelimit_keys{limiter="request"} 2"#), "the table stays at its capacity")
    }
}
