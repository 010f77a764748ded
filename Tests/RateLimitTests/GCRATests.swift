import Testing
@testable import RateLimit

/// GCRA as specified in ITU-T I.371 (virtual scheduling form) with T = 1/rate and
/// τ = T·(burst − 1); times are exact nanoseconds.
@Suite struct GCRATests {
    /// 10 per second (T = 100 ms), burst 3 (τ = 200 ms).
    let gcra = GCRA(ratePerSecond: 10, burst: 3)!
    let ms: Nanoseconds = 1_000_000
    let start: Nanoseconds = 5_000_000_000

    @Test func parametersFollowTheDocumentedMath() {
        #expect(gcra.emissionInterval == 100 * ms)
        #expect(gcra.tolerance == 200 * ms)
        #expect(gcra.window == 300 * ms)
    }

    @Test func freshKeyAdmitsExactlyBurstThenDeniesWithOneIntervalRetry() {
        var tat: Nanoseconds = 0
        #expect(gcra.decide(tat: &tat, now: start) == .allow(remaining: 2))
        #expect(gcra.decide(tat: &tat, now: start) == .allow(remaining: 1))
        #expect(gcra.decide(tat: &tat, now: start) == .allow(remaining: 0))
        #expect(gcra.decide(tat: &tat, now: start) == .deny(retryAfter: 100 * ms))
        #expect(tat == start + 300 * ms, "a denied request must not move the TAT")
    }

    @Test func boundaryIsExactToTheNanosecond() {
        var tat: Nanoseconds = 0
        for _ in 0..<3 { _ = gcra.decide(tat: &tat, now: start) }
        let allowAt = start + 100 * ms
        #expect(gcra.decide(tat: &tat, now: allowAt - 1) == .deny(retryAfter: 1))
        #expect(gcra.decide(tat: &tat, now: allowAt) == .allow(remaining: 0))
        #expect(gcra.decide(tat: &tat, now: allowAt) == .deny(retryAfter: 100 * ms))
    }

    @Test func sustainedRateAtExactlyOnePerIntervalIsAlwaysAllowed() {
        var tat: Nanoseconds = 0
        for _ in 0..<3 { _ = gcra.decide(tat: &tat, now: start) }
        for step in 1...50 {
            #expect(gcra.decide(tat: &tat, now: start + Nanoseconds(step) * 100 * ms).isAllowed)
        }
    }

    @Test func refillAfterIdleRestoresFullBurstButNoMore() {
        var tat: Nanoseconds = 0
        for _ in 0..<3 { _ = gcra.decide(tat: &tat, now: start) }
        // Drained at start + 300 ms; long idle must not bank more than `burst`.
        let later = start + 10_000 * ms
        #expect(gcra.decide(tat: &tat, now: later) == .allow(remaining: 2))
        #expect(gcra.decide(tat: &tat, now: later) == .allow(remaining: 1))
        #expect(gcra.decide(tat: &tat, now: later) == .allow(remaining: 0))
        #expect(!gcra.decide(tat: &tat, now: later).isAllowed)
    }

    @Test func partialRefillGivesOneRequestPerElapsedInterval() {
        var tat: Nanoseconds = 0
        for _ in 0..<3 { _ = gcra.decide(tat: &tat, now: start) }
        let now = start + 200 * ms  // two intervals later: two requests
        #expect(gcra.decide(tat: &tat, now: now) == .allow(remaining: 1))
        #expect(gcra.decide(tat: &tat, now: now) == .allow(remaining: 0))
        #expect(gcra.decide(tat: &tat, now: now) == .deny(retryAfter: 100 * ms))
    }

    @Test func costCountsAsThatManyRequests() {
        var tat: Nanoseconds = 0
        #expect(gcra.decide(tat: &tat, now: start, cost: 2) == .allow(remaining: 1))
        #expect(gcra.decide(tat: &tat, now: start, cost: 2) == .deny(retryAfter: 100 * ms))
        #expect(gcra.decide(tat: &tat, now: start, cost: 1) == .allow(remaining: 0))
    }

    @Test func burstOfOneIsAStrictInterval() {
        let strict = GCRA(emissionInterval: 1_000, burst: 1)!
        var tat: Nanoseconds = 0
        #expect(strict.decide(tat: &tat, now: 10_000) == .allow(remaining: 0))
        #expect(strict.decide(tat: &tat, now: 10_999) == .deny(retryAfter: 1))
        #expect(strict.decide(tat: &tat, now: 11_000) == .allow(remaining: 0))
    }

    @Test func invalidParametersAreRejected() {
        #expect(GCRA(ratePerSecond: 0, burst: 1) == nil)
        #expect(GCRA(ratePerSecond: -1, burst: 1) == nil)
        #expect(GCRA(ratePerSecond: .nan, burst: 1) == nil)
        #expect(GCRA(ratePerSecond: .infinity, burst: 1) == nil)
        #expect(GCRA(ratePerSecond: 1, burst: 0) == nil)
        #expect(GCRA(emissionInterval: 0, burst: 1) == nil)
        #expect(GCRA(emissionInterval: .max / 2, burst: 4) == nil, "T·burst must not overflow")
    }

    /// RFC 9110 §10.2.3: Retry-After is whole seconds; rounding down would be too early.
    @Test func retryAfterSecondsRoundUp() {
        #expect(Nanoseconds(0).wholeSecondsRoundedUp == 0)
        #expect(Nanoseconds(1).wholeSecondsRoundedUp == 1)
        #expect(Nanoseconds(1_000_000_000).wholeSecondsRoundedUp == 1)
        #expect(Nanoseconds(1_000_000_001).wholeSecondsRoundedUp == 2)
    }

    @Test func resetAfterIsTimeUntilDrained() {
        var tat: Nanoseconds = 0
        _ = gcra.decide(tat: &tat, now: start)
        #expect(gcra.resetAfter(tat: tat, now: start) == 100 * ms)
        #expect(gcra.resetAfter(tat: tat, now: start + 500 * ms) == 0)
    }
}
