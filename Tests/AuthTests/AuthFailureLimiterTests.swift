import Testing
import Auth

@Suite struct AuthFailureLimiterTests {
    let second: UInt64 = 1_000_000_000
    let t0: UInt64 = 10_000_000_000

    func limiter(capacity: Int = 100) -> AuthFailureLimiter<String> {
        // 3 failures within 60 s lock out for 300 s.
        AuthFailureLimiter(.init(maxFailures: 3, window: 60 * second, lockout: 300 * second, capacity: capacity))
    }

    @Test func thirdFailureWithinTheWindowLocksOut() {
        var limiter = limiter()
        #expect(limiter.recordFailure("a", now: t0) == false)
        #expect(limiter.recordFailure("a", now: t0 + second) == false)
        #expect(limiter.check("a", now: t0 + second) == .allowed)
        #expect(limiter.recordFailure("a", now: t0 + 2 * second) == true)
        #expect(limiter.check("a", now: t0 + 2 * second) == .lockedOut(retryAfter: 300 * second))
        #expect(limiter.check("b", now: t0 + 2 * second) == .allowed, "other addresses are unaffected")
        #expect(limiter.lockouts == 1)
    }

    /// Concurrent requests can record their times out of order; an earlier `now` is inside
    /// the window (it used to wrap around and restart the count).
    @Test func anEarlierTimeCountsInTheWindow() {
        var limiter = limiter()
        #expect(limiter.recordFailure("a", now: t0 + 5) == false)
        #expect(limiter.recordFailure("a", now: t0 + 4) == false)
        #expect(limiter.recordFailure("a", now: t0 + 3) == true)
    }

    @Test func lockoutEndsExactly() {
        var limiter = limiter()
        for offset in 0..<3 { limiter.recordFailure("a", now: t0 + UInt64(offset)) }
        let end = t0 + 2 + 300 * second
        #expect(limiter.check("a", now: end - 1) == .lockedOut(retryAfter: 1))
        #expect(limiter.check("a", now: end) == .allowed)
        // After the lockout the count starts afresh.
        #expect(limiter.recordFailure("a", now: end) == false)
    }

    @Test func failuresSpreadBeyondTheWindowDoNotLockOut() {
        var limiter = limiter()
        limiter.recordFailure("a", now: t0)
        limiter.recordFailure("a", now: t0 + 59 * second)
        // The window (60 s from the first failure) has elapsed: a new window starts.
        #expect(limiter.recordFailure("a", now: t0 + 60 * second) == false)
        #expect(limiter.recordFailure("a", now: t0 + 61 * second) == false)
        #expect(limiter.recordFailure("a", now: t0 + 62 * second) == true)
    }

    @Test func failuresDuringALockoutDoNotExtendIt() {
        var limiter = limiter()
        for _ in 0..<3 { limiter.recordFailure("a", now: t0) }
        #expect(limiter.recordFailure("a", now: t0 + second) == false)
        #expect(limiter.check("a", now: t0 + second) == .lockedOut(retryAfter: 299 * second))
        #expect(limiter.lockouts == 1)
    }

    @Test func tableIsBoundedWithLeastRecentlyUsedEviction() {
        var limiter = limiter(capacity: 2)
        for _ in 0..<3 { limiter.recordFailure("locked", now: t0) }
        limiter.recordFailure("b", now: t0 + 1)
        _ = limiter.check("locked", now: t0 + 2)  // use keeps it recent
        limiter.recordFailure("c", now: t0 + 3)  // evicts "b"
        #expect(limiter.count == 2)
        #expect(limiter.evictions == 1)
        #expect(limiter.check("locked", now: t0 + 4) != .allowed)
        for index in 0..<1_000 { limiter.recordFailure("k\(index)", now: t0 + 5) }
        #expect(limiter.count == 2)
        #expect(limiter.evictions == 1_001)
        #expect(limiter.check("locked", now: t0 + 6) != .allowed, "one failure each from other addresses does not flush a lockout")
        #expect(limiter.lockoutEvictions == 0)
    }

    /// A flood of single failures from other addresses used to evict a lockout once it became
    /// the least recently used key; a lockout goes only when the table's old end holds nothing
    /// else, and once it has ended it goes like any other key.
    @Test func aLockoutIsEvictedLast() {
        var limiter = limiter(capacity: 16)
        for _ in 0..<3 { limiter.recordFailure("locked", now: t0) }
        for index in 0..<100_000 { limiter.recordFailure("k\(index)", now: t0 + 1) }
        #expect(limiter.check("locked", now: t0 + 2) == .lockedOut(retryAfter: 300 * second - 2))
        #expect(limiter.lockoutEvictions == 0)
        // Sixteen lockouts fill the table: the next new key has to drop one, and says so.
        for index in 0..<16 { for _ in 0..<3 { limiter.recordFailure("l\(index)", now: t0 + 3) } }
        #expect(limiter.lockoutEvictions == 1, "the sixteenth found only lockouts")
        limiter.recordFailure("new", now: t0 + 4)
        #expect(limiter.lockoutEvictions == 2)
        // Eight lockouts at the old end, then a key that is not locked out: that one goes, and
        // no lockout is counted as dropped.
        var mixed = self.limiter(capacity: 16)
        for index in 0..<8 { for _ in 0..<3 { mixed.recordFailure("a\(index)", now: t0) } }
        for index in 0..<8 { mixed.recordFailure("b\(index)", now: t0) }
        mixed.recordFailure("c", now: t0 + 1)
        #expect(mixed.lockoutEvictions == 0)
        #expect(mixed.evictions == 1)
        for index in 0..<8 { #expect(mixed.check("a\(index)", now: t0 + 2) != .allowed) }
        // Ended lockouts are dead keys again.
        limiter.recordFailure("after", now: t0 + 3 + 300 * second)
        #expect(limiter.lockoutEvictions == 2)
    }

    @Test func resetForgetsAKey() {
        var limiter = limiter()
        for _ in 0..<3 { limiter.recordFailure("a", now: t0) }
        limiter.reset("a")
        #expect(limiter.check("a", now: t0) == .allowed)
        #expect(limiter.count == 0)
    }
}
