import Testing
import RateLimit

@Suite struct ConcurrencyLimiterTests {
    @Test func perKeyCapThenGlobalCap() {
        var limiter = ConcurrencyLimiter<String>(perKeyMaximum: 2, globalMaximum: 3)
        #expect(limiter.acquire("a") == .acquired)
        #expect(limiter.acquire("a") == .acquired)
        #expect(limiter.acquire("a") == .rejected(.perKey))
        #expect(limiter.acquire("b") == .acquired)
        #expect(limiter.acquire("b") == .rejected(.global))
        #expect(limiter.total == 3 && limiter.keys == 2)
        limiter.release("a")
        #expect(limiter.acquire("b") == .acquired)
        #expect(limiter.rejectedPerKey == 1 && limiter.rejectedGlobal == 1)
    }

    @Test func perKeyIsReportedFirstWhenBothAreFull() {
        var limiter = ConcurrencyLimiter<String>(perKeyMaximum: 1, globalMaximum: 1)
        #expect(limiter.acquire("a") == .acquired)
        #expect(limiter.acquire("a") == .rejected(.perKey))
        #expect(limiter.acquire("b") == .rejected(.global))
    }

    @Test func releasedKeysLeaveTheTable() {
        var limiter = ConcurrencyLimiter<Int>(perKeyMaximum: 5, globalMaximum: 10_000)
        for key in 0..<1_000 { _ = limiter.acquire(key) }
        #expect(limiter.keys == 1_000)
        for key in 0..<1_000 { limiter.release(key) }
        #expect(limiter.keys == 0 && limiter.total == 0)
        limiter.release(7)
        #expect(limiter.unbalancedReleases == 1 && limiter.total == 0)
    }
}
