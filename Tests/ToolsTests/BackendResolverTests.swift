import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import Tools

/// One backend whose name server does not answer must not hold up the others' connects
/// (NIO's resolver queued every lookup of an event loop behind the one before).
@Suite struct BackendResolverTests {
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    /// A lookup that blocks for "slow.test" until released, and counts its calls per host.
    final class Lookups: Sendable {
        let calls = Mutex<[String: Int]>([:])
        let gate = DispatchSemaphore(value: 0)
        var lookup: BackendResolver.Lookup {
            { [self] host, port in
                calls.withLock { $0[host, default: 0] += 1 }
                // Bounded: a resolver that made other lookups wait would fail the test below, not hang it.
                if host == "slow.test" { _ = gate.wait(timeout: .now() + .seconds(10)) }
                return .success([try! SocketAddress(ipAddress: "192.0.2.1", port: port)])
            }
        }
        func count(_ host: String) -> Int { calls.withLock { $0[host] ?? 0 } }
    }

    @Test("a lookup that hangs holds up neither another host's lookup nor an address; its callers share one lookup")
    func slowHostHoldsUpNothingElse() async throws {
        let lookups = Lookups()
        let resolver = BackendResolver(lookup: lookups.lookup)
        let slow = (0..<3).map { _ in resolver.resolve(host: "slow.test", port: 80, on: loop) }
        let started = ContinuousClock.now
        let fast = try await resolver.resolve(host: "fast.test", port: 80, on: loop).get()
        #expect(ContinuousClock.now - started < .seconds(5), "the fast host waited for the slow one")
        #expect(fast.count == 1)
        let literal = try await resolver.resolve(host: "127.0.0.1", port: 80, on: loop).get()
        #expect(literal.first?.ipAddress == "127.0.0.1")
        #expect(lookups.count("127.0.0.1") == 0, "an IP literal is not looked up")
        lookups.gate.signal()
        for future in slow { #expect(try await future.get().count == 1) }
        #expect(lookups.count("slow.test") == 1, "callers waiting for one host share its lookup")
    }

    @Test("an answer is kept for the cache time, then looked up again; a failure is not kept; a failed connect forgets it")
    func answersAreCachedBriefly() async throws {
        let calls = Mutex(0)
        let failing = Mutex(true)
        let resolver = BackendResolver(cacheTime: .seconds(2)) { _, port in
            calls.withLock { $0 += 1 }
            if failing.withLock({ $0 }) { return .failure(BackendResolver.UnknownHost(host: "h", reason: "test")) }
            return .success([try! SocketAddress(ipAddress: "192.0.2.2", port: port)])
        }
        await #expect(throws: BackendResolver.UnknownHost.self) { try await resolver.resolve(host: "h.test", port: 1, on: loop).get() }
        failing.withLock { $0 = false }
        _ = try await resolver.resolve(host: "h.test", port: 1, on: loop).get()
        _ = try await resolver.resolve(host: "h.test", port: 1, on: loop).get()
        #expect(calls.withLock { $0 } == 2, "the failure was not kept; the answer was")
        resolver.forget(host: "h.test", port: 1)
        _ = try await resolver.resolve(host: "h.test", port: 1, on: loop).get()
        #expect(calls.withLock { $0 } == 3, "forgotten after a failed connect")
        try await Task.sleep(for: .milliseconds(2100))
        _ = try await resolver.resolve(host: "h.test", port: 1, on: loop).get()
        #expect(calls.withLock { $0 } == 4)
    }

    /// (A name that does not resolve is not tried here: without a name server it takes the
    /// resolver's own timeouts.)
    @Test("the system lookup finds localhost from the hosts file")
    func systemLookup() {
        guard case .success(let addresses) = BackendResolver.getaddrinfoLookup("localhost", 443) else {
            Issue.record("localhost did not resolve")
            return
        }
        #expect(addresses.contains { $0.port == 443 })
    }
}
