import Testing
import RateLimit

/// draft-ietf-httpapi-ratelimit-headers §3 (RateLimit-Policy), §4 (RateLimit); RFC 9110 §10.2.3.
@Suite struct RateLimitHeadersTests {
    let gcra = GCRA(ratePerSecond: 2, burst: 5)!  // T = 0.5 s, window 2.5 s → w=3
    let t0: Nanoseconds = 1_000_000_000_000

    @Test func allowedRequestAnnouncesRemainingAndReset() {
        var limiter = KeyedRateLimiter<String>(gcra: gcra, capacity: 4)
        let decision = limiter.decide("k", now: t0)
        let headers = RateLimitHeaders(name: "ip", gcra: gcra, decision: decision,
                                       tat: limiter.theoreticalArrivalTime(of: "k"), now: t0)
        #expect(headers.policy == "\"ip\";q=5;w=3")
        #expect(headers.state == "\"ip\";r=4;t=1")  // TAT is 0.5 s ahead: rounded up to 1
        #expect(headers.retryAfter == nil)
    }

    @Test func deniedRequestHasRetryAfterRoundedUp() {
        var limiter = KeyedRateLimiter<String>(gcra: gcra, capacity: 4)
        for _ in 0..<5 { _ = limiter.decide("k", now: t0) }
        let decision = limiter.decide("k", now: t0 + 1)
        #expect(decision == .deny(retryAfter: 500_000_000 - 1))
        let headers = RateLimitHeaders(name: "ip", gcra: gcra, decision: decision,
                                       tat: limiter.theoreticalArrivalTime(of: "k"), now: t0 + 1)
        #expect(headers.retryAfter == "1")
        #expect(headers.state == "\"ip\";r=0;t=3")  // 2.5 s − 1 ns until drained
    }

    @Test func hostilePolicyNameIsReplaced() {
        let headers = RateLimitHeaders(name: "a\"b\r\n", gcra: gcra, decision: .allow(remaining: 1), tat: nil, now: t0)
        #expect(headers.policy.hasPrefix("\"limit\";"))
    }
}
