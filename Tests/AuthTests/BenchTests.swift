import Foundation
import Testing
import Auth

/// Verification cost, run on demand in a release build (bench/limits/run.sh, BENCH=1).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["BENCH"] == "1"))
struct AuthBenchTests {
    let now = Date(timeIntervalSince1970: 2_000_000_000)

    /// Thread CPU time per operation (the machine is shared; wall time counts others' slices).
    func nanosecondsPerOperation(_ operations: Int, _ body: () -> Void) -> Double {
        func cpu() -> UInt64 {
            var spec = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
            return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
        }
        let start = cpu()
        body()
        return Double(cpu() - start) / Double(operations)
    }

    @Test(arguments: [1, 10, 100])
    func verify(tokens: Int) throws {
        let secrets = (0..<tokens).map { "token-\($0)-0123456789abcdef0123456789abcdef" }
        let verifier = TokenVerifier(store: try TokenStore(secrets.enumerated().map { StoredToken(name: "t\($0.offset)", secret: $0.element) }))
        let good = "Bearer " + secrets[tokens - 1]
        let bad = "Bearer " + secrets[0].dropLast() + "X"
        var accepted = 0
        let count = 200_000
        let cost = nanosecondsPerOperation(2 * count) {
            for _ in 0..<count {
                if case .accepted = verifier.verify(authorization: good, now: now) { accepted &+= 1 }
                if case .accepted = verifier.verify(authorization: bad, now: now) { accepted &+= 1 }
            }
        }
        print("bench TokenVerifier.verify, \(tokens) tokens: \(String(format: "%.1f", cost)) ns/op CPU")
        #expect(accepted == count)
        #expect(cost < 50_000)
    }

    @Test func authFailureLimiterWith100kAddresses() {
        var limiter = AuthFailureLimiter<UInt32>(.init(maxFailures: 5, window: 60_000_000_000, lockout: 300_000_000_000, capacity: 100_000))
        var generator = SeededGenerator(state: 3)
        let keys = (0..<1_000_000).map { _ in UInt32(truncatingIfNeeded: generator.next() % 150_000) }
        var now: UInt64 = 1_000_000_000
        var locked = 0
        let cost = nanosecondsPerOperation(keys.count) {
            for key in keys {
                now &+= 100
                if case .lockedOut = limiter.check(key, now: now) { locked &+= 1; continue }
                limiter.recordFailure(key, now: now)
            }
        }
        print("bench AuthFailureLimiter check+recordFailure, 100k table: \(String(format: "%.1f", cost)) ns/op CPU (locked \(locked), evictions \(limiter.evictions))")
        #expect(limiter.count <= 100_000)
        #expect(cost < 5_000)
    }
}
