import Testing
@testable import RateLimit

@Suite struct KeyedRateLimiterTests {
    /// One per second, burst 2: a key is drained 1 s after one request, 2 s after two.
    let gcra = GCRA(emissionInterval: 1_000_000_000, burst: 2)!
    let second: Nanoseconds = 1_000_000_000
    let t0: Nanoseconds = 100_000_000_000

    @Test func keysAreIndependent() {
        var limiter = KeyedRateLimiter<String>(gcra: gcra, capacity: 10)
        #expect(limiter.decide("a", now: t0).isAllowed)
        #expect(limiter.decide("a", now: t0).isAllowed)
        #expect(limiter.decide("a", now: t0) == .deny(retryAfter: second))
        #expect(limiter.decide("b", now: t0) == .allow(remaining: 1))
        #expect(limiter.count == 2)
    }

    /// A request let in as one that turned out to be more (a JSON-RPC batch) is charged for
    /// the rest, beyond the burst if need be: the key's next requests wait the debt out.
    @Test func chargeIsADebtRepaidAtTheRate() {
        var limiter = KeyedRateLimiter<String>(gcra: gcra, capacity: 10)
        #expect(limiter.decide("a", now: t0).isAllowed)
        limiter.charge("a", now: t0, cost: 5)
        #expect(limiter.decide("a", now: t0) == .deny(retryAfter: 5 * second))
        #expect(limiter.decide("a", now: t0 + 5 * second).isAllowed)
        // A key not in the table is not inserted by a charge.
        limiter.charge("b", now: t0, cost: 3)
        #expect(!limiter.contains("b"))
        // A charge that would overflow saturates where a later decision cannot overflow.
        limiter.charge("a", now: t0, cost: .max)
        #expect(!limiter.decide("a", now: t0).isAllowed)
    }

    @Test func deniedNewKeyTakesNoSlot() {
        let tiny = GCRA(emissionInterval: 10, burst: 1)!
        var limiter = KeyedRateLimiter<Int>(gcra: tiny, capacity: 1)
        _ = limiter.decide(1, now: t0)
        // cost > burst is a precondition; instead fill and deny an existing key
        #expect(limiter.decide(1, now: t0) == .deny(retryAfter: 10))
        #expect(limiter.count == 1)
        #expect(limiter.evictions == 0)
    }

    @Test func capacityIsNeverExceeded() {
        var limiter = KeyedRateLimiter<Int>(gcra: gcra, capacity: 100)
        for key in 0..<1_000 {
            #expect(limiter.decide(key, now: t0).isAllowed)
            #expect(limiter.count <= 100)
        }
        #expect(limiter.count == 100)
        #expect(limiter.evictions == 900)
    }

    /// Idle (drained) keys go first even when they were used more recently than active ones.
    @Test func drainedKeysAreEvictedBeforeLeastRecentlyUsed() {
        var limiter = KeyedRateLimiter<String>(gcra: gcra, capacity: 3)
        // "old" is LRU but stays active for 2 s (two requests).
        _ = limiter.decide("old", now: t0)
        _ = limiter.decide("old", now: t0)
        // "light" is used later, once: drained 1 s after.
        _ = limiter.decide("light", now: t0 + 1)
        _ = limiter.decide("busy", now: t0 + 2)
        _ = limiter.decide("busy", now: t0 + 2)
        // At t0 + 1 s + 1: "light" is drained (TAT = t0+1+1s), "old"/"busy" are not.
        _ = limiter.decide("new", now: t0 + second + 1)
        #expect(!limiter.contains("light"))
        #expect(limiter.contains("old"))
        #expect(limiter.contains("busy"))
        #expect(limiter.idleEvictions == 1)
        #expect(limiter.activeEvictions == 0)
    }

    @Test func withoutDrainedKeysTheLeastRecentlyUsedIsEvicted() {
        var limiter = KeyedRateLimiter<String>(gcra: gcra, capacity: 3)
        _ = limiter.decide("a", now: t0)
        _ = limiter.decide("b", now: t0 + 1)
        _ = limiter.decide("c", now: t0 + 2)
        // Touch "a" (a denied access still counts as use) so "b" becomes LRU.
        _ = limiter.decide("a", now: t0 + 3)
        _ = limiter.decide("a", now: t0 + 4)
        _ = limiter.decide("d", now: t0 + 5)
        #expect(!limiter.contains("b"))
        #expect(limiter.contains("a") && limiter.contains("c") && limiter.contains("d"))
        #expect(limiter.activeEvictions == 1)
        #expect(limiter.idleEvictions == 0)
    }

    @Test func longestDrainedIsEvictedFirst() {
        var limiter = KeyedRateLimiter<String>(gcra: gcra, capacity: 3)
        _ = limiter.decide("x", now: t0 + 20)  // drained at t0+20+1s
        _ = limiter.decide("y", now: t0 + 10)  // drained at t0+10+1s (earliest)
        _ = limiter.decide("z", now: t0 + 30)
        _ = limiter.decide("new", now: t0 + 10 * second)
        #expect(!limiter.contains("y"))
        #expect(limiter.contains("x") && limiter.contains("z"))
    }

    @Test func evictionOfADrainedKeyLosesNothing() {
        var limiter = KeyedRateLimiter<String>(gcra: gcra, capacity: 1)
        _ = limiter.decide("a", now: t0)
        _ = limiter.decide("b", now: t0 + 5 * second)  // "a" drained, evicted
        // "a" comes back: same as a fresh key, full burst.
        var fresh: Nanoseconds = 0
        let expected = gcra.decide(tat: &fresh, now: t0 + 10 * second)
        #expect(limiter.decide("a", now: t0 + 10 * second) == expected)
    }

    @Test func heapStaysBoundedUnderManyDecisions() {
        var limiter = KeyedRateLimiter<Int>(gcra: GCRA(emissionInterval: 1, burst: 1_000)!, capacity: 50)
        for step in 0..<20_000 {
            _ = limiter.decide(step % 70, now: t0 + Nanoseconds(step))
            #expect(limiter.heapCount <= 2 * 50 + 64)
        }
    }

    /// A model check: against a simple reference (dictionary + linear scans) on a random but
    /// seeded workload, the limiter makes the same decisions and evicts the same keys.
    @Test func matchesAReferenceModel() {
        struct Reference {
            var tats: [Int: Nanoseconds] = [:]
            var lastUse: [Int: Int] = [:]
            var clock = 0
            let capacity: Int
            let gcra: GCRA
            mutating func decide(_ key: Int, now: Nanoseconds) -> GCRA.Decision {
                clock += 1
                if var tat = tats[key] {
                    lastUse[key] = clock
                    let decision = gcra.decide(tat: &tat, now: now)
                    tats[key] = tat
                    return decision
                }
                var tat: Nanoseconds = 0
                let decision = gcra.decide(tat: &tat, now: now)
                guard decision.isAllowed else { return decision }
                if tats.count >= capacity {
                    let drained = tats.filter { $0.value <= now }
                    let victim = drained.min { ($0.value, lastUse[$0.key]!) < ($1.value, lastUse[$1.key]!) }?.key
                        ?? lastUse.min { $0.value < $1.value }!.key
                    tats.removeValue(forKey: victim)
                    lastUse.removeValue(forKey: victim)
                }
                tats[key] = tat
                lastUse[key] = clock
                return decision
            }
        }
        let gcra = GCRA(emissionInterval: 1_000, burst: 3)!
        var limiter = KeyedRateLimiter<Int>(gcra: gcra, capacity: 16)
        var reference = Reference(capacity: 16, gcra: gcra)
        var random = SplitMix64(seed: 42)
        var now: Nanoseconds = 1_000_000
        for _ in 0..<20_000 {
            now += 1 + random.next() % 700
            let key = Int(random.next() % 40)
            #expect(limiter.decide(key, now: now) == reference.decide(key, now: now))
        }
        #expect(Set(reference.tats.keys).allSatisfy { limiter.theoreticalArrivalTime(of: $0) == reference.tats[$0] })
        #expect(limiter.count == reference.tats.count)
    }
}

/// A tiny seeded generator so tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
