import Foundation
import Testing
@testable import RateLimit

/// Decision cost of the limiters, run on demand in a release build (bench/limits/run.sh):
///
///     BENCH=1 swift test -c release -Xswiftc -enable-testing --filter Bench
///
/// Each figure is the wall time of a fixed loop divided by its decisions; keys are precomputed
/// so the loop measures the limiter, not key generation. The expectations only guard against a
/// pathological regression (a decision must stay under 5 µs even on a loaded 2-core machine).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["BENCH"] == "1"))
struct BenchTests {
    static let tableSize = 100_000
    static let decisions = 2_000_000

    /// Thread CPU time per operation (the machine is shared: wall time counts other processes'
    /// slices); wall time per operation is printed beside it.
    func nanosecondsPerOperation(_ operations: Int, _ body: () -> Void) -> (cpu: Double, wall: Double) {
        let wallStart = MonotonicClock.now()
        let cpuStart = Self.threadCPUTime()
        body()
        let cpu = Double(Self.threadCPUTime() - cpuStart) / Double(operations)
        return (cpu, Double(MonotonicClock.now() - wallStart) / Double(operations))
    }

    static func threadCPUTime() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    func report(_ label: String, _ value: (cpu: Double, wall: Double)) {
        print("bench \(label): \(String(format: "%.1f", value.cpu)) ns/op CPU (\(String(format: "%.1f", value.wall)) wall)")
        #expect(value.cpu < 5_000)
    }

    /// 100k distinct IPv4 keys and a random access sequence over them.
    func keys() -> (keys: [ClientAddressKey], sequence: [Int]) {
        var generator = SplitMix64(seed: 1)
        // Distinct addresses spread over the IPv4 space (an odd multiplier is a bijection mod 2^32).
        let keys = (0..<Self.tableSize).map { ClientAddressKey.v4(UInt32($0) &* 2_654_435_761) }
        let sequence = (0..<Self.decisions).map { _ in Int(generator.next() % UInt64(Self.tableSize)) }
        return (keys, sequence)
    }

    @Test func keyedRateLimiterWith100kKeys() {
        let (keys, sequence) = keys()
        let gcra = GCRA(ratePerSecond: 10, burst: 20)!
        var limiter = KeyedRateLimiter<ClientAddressKey>(gcra: gcra, capacity: Self.tableSize)
        var now: Nanoseconds = 1_000_000_000
        for key in keys { _ = limiter.decide(key, now: now) }
        #expect(limiter.count == Self.tableSize)

        var allowed = 0
        let hit = nanosecondsPerOperation(Self.decisions) {
            for index in sequence {
                now &+= 50  // 2M decisions over 0.1 s: keys stay active, some get denied
                if limiter.decide(keys[index], now: now).isAllowed { allowed &+= 1 }
            }
        }
        report("KeyedRateLimiter decide, existing key, 100k keys (allowed \(allowed)/\(Self.decisions))", hit)

        // New keys at a full table, nothing drained: every decision evicts the LRU key.
        let fresh = (0..<Self.decisions).map { ClientAddressKey.v6Prefix64(UInt64($0) | 1 << 63) }
        let evictionsBefore = limiter.activeEvictions
        let lru = nanosecondsPerOperation(Self.decisions) {
            for key in fresh { _ = limiter.decide(key, now: now) }
        }
        report("KeyedRateLimiter decide, new key, LRU eviction (\(limiter.activeEvictions - evictionsBefore) evictions)", lru)

        // Much later every key is drained: new keys evict drained keys through the TAT heap.
        now &+= 3_600_000_000_000
        let idleBefore = limiter.idleEvictions
        // Exactly one table's worth, so every one of these evictions finds a drained key.
        let others = (0..<Self.tableSize).map { ClientAddressKey.v6Prefix64(UInt64($0) | 1 << 62) }
        let idle = nanosecondsPerOperation(Self.tableSize) {
            for key in others { _ = limiter.decide(key, now: now) }
        }
        report("KeyedRateLimiter decide, new key, drained eviction (\(limiter.idleEvictions - idleBefore) idle evictions)", idle)
        #expect(limiter.idleEvictions - idleBefore == UInt64(Self.tableSize))
        #expect(limiter.count == Self.tableSize)
        #expect(limiter.heapCount <= 2 * Self.tableSize + 64)
    }

    /// The same hit path with 1,000 keys: the difference to 100k keys is cache misses (the
    /// 100k table and its dictionary do not fit in L2).
    @Test func keyedRateLimiterWith1kKeys() {
        let (keys, sequence) = keys()
        var limiter = KeyedRateLimiter<ClientAddressKey>(gcra: GCRA(ratePerSecond: 10, burst: 20)!, capacity: 1_000)
        var now: Nanoseconds = 1_000_000_000
        for key in keys.prefix(1_000) { _ = limiter.decide(key, now: now) }
        let hit = nanosecondsPerOperation(Self.decisions) {
            for index in sequence {
                now &+= 50
                _ = limiter.decide(keys[index % 1_000], now: now)
            }
        }
        report("KeyedRateLimiter decide, existing key, 1k keys", hit)
    }

    @Test func connectionGateWith100kAddresses() {
        let (keys, sequence) = keys()
        let configuration = ConnectionGate.Configuration(
            maxConnections: 10_000, maxPerAddress: 8, maxHandshakes: 1_000, maxHandshakesPerAddress: 1_000,
            perAddressRate: GCRA(ratePerSecond: 5, burst: 10), globalRate: GCRA(ratePerSecond: 1e6, burst: 1_000),
            rateTableCapacity: Self.tableSize)
        var gate = ConnectionGate(configuration)
        var now: Nanoseconds = 1_000_000_000
        let cycle = nanosecondsPerOperation(Self.decisions) {
            for index in sequence {
                now &+= 1_000
                let key = keys[index]
                if gate.admit(key, now: now) == .admit {
                    gate.handshakeFinished(key)
                    gate.closed(key)
                }
            }
        }
        report("ConnectionGate admit+handshakeFinished+closed, 100k addresses (rate table \(gate.rateTableCount))", cycle)

        let shared = SharedConnectionGate(configuration)
        let locked = nanosecondsPerOperation(Self.decisions) {
            for index in sequence {
                now &+= 1_000
                let key = keys[index]
                if shared.admit(key, now: now) == .admit {
                    shared.handshakeFinished(key)
                    shared.closed(key)
                }
            }
        }
        report("SharedConnectionGate (Mutex) same cycle, uncontended", locked)
    }

    @Test func concurrencyLimiter() {
        let (keys, sequence) = keys()
        var limiter = ConcurrencyLimiter<ClientAddressKey>(perKeyMaximum: 4, globalMaximum: 1_000_000)
        let cost = nanosecondsPerOperation(Self.decisions) {
            for index in sequence where limiter.acquire(keys[index]) == .acquired {
                limiter.release(keys[index])
            }
        }
        report("ConcurrencyLimiter acquire+release", cost)
    }

    @Test func clientAddressParsing() {
        let texts = (0..<1_000).map { "10.\($0 % 256).\($0 / 256).7" } + (0..<1_000).map { "2001:db8:\($0)::1" }
        var sink = 0
        let cost = nanosecondsPerOperation(200_000) {
            for round in 0..<100 {
                for text in texts where ClientAddressKey(ip: text) != nil { sink &+= round }
            }
        }
        report("ClientAddressKey(ip:) parse (sink \(sink % 7))", cost)
    }
}
