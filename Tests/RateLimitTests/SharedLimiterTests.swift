import Testing
import RateLimit

@Suite struct SharedLimiterTests {
    /// Eight tasks hammer one key: exactly `burst` requests are allowed at one instant, however
    /// the calls interleave (the Mutex serialises the read-modify-write of the TAT).
    @Test func concurrentDecisionsAllowExactlyBurst() async {
        let limiter = SharedKeyedRateLimiter<String>(name: "ip", gcra: GCRA(emissionInterval: 1_000_000_000, burst: 50)!, capacity: 8)
        let allowed = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var count = 0
                    for _ in 0..<100 where limiter.decide("k", now: 1_000).decision.isAllowed { count += 1 }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        #expect(allowed == 50)
        let denied = limiter.decide("k", now: 1_000)
        #expect(denied.headers.retryAfter == "1")
        #expect(denied.headers.policy == "\"ip\";q=50;w=50")
        #expect(limiter.snapshot().count == 1)
    }

    @Test func sharedConcurrencyLimiterBalances() async {
        let limiter = SharedConcurrencyLimiter<Int>(perKeyMaximum: 2, globalMaximum: 10)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for _ in 0..<200 where limiter.acquire(task % 4) == .acquired {
                        limiter.release(task % 4)
                    }
                }
            }
        }
        let snapshot = limiter.snapshot()
        #expect(snapshot.total == 0 && snapshot.keys == 0 && snapshot.unbalancedReleases == 0)
    }
}
