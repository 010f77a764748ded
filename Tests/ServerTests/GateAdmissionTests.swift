import Config
import NIOCore
import NIOEmbedded
import RateLimit
import Synchronization
import Testing
@testable import MCPServerKit

/// Admission at accept over the connection gate: which connections it refuses, and which idle
/// connection it closes to make room at the global cap (issue 5 §4).
@Suite struct GateAdmissionTests {
    func configuration(
        max: Int = 100, perAddress: Int = 100, handshakes: Int = 100, handshakesPerAddress: Int = 100,
        perAddressRate: GCRA? = nil, rateTableCapacity: Int = 16
    ) -> ConnectionGate.Configuration {
        .init(maxConnections: max, maxPerAddress: perAddress, maxHandshakes: handshakes, maxHandshakesPerAddress: handshakesPerAddress,
              perAddressRate: perAddressRate, globalRate: nil, rateTableCapacity: rateTableCapacity)
    }

    func exposition(_ metrics: ServerMetrics) -> String {
        String(decoding: metrics.render(), as: UTF8.self)
    }

    /// A connected channel from `ip`, as the listener hands it over.
    func connection(from ip: String) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: ip, port: 40_000)).wait()
        return channel
    }

    /// Admits a connection and takes it through its handshake to waiting for a request.
    func idleConnection(_ admission: GateAdmission, from ip: String) throws -> EmbeddedChannel {
        let channel = try connection(from: ip)
        let ticket = try #require(admission.admit(channel))
        ticket.handshakeFinished()
        ticket.connectionIdle(true)
        return channel
    }

    /// Admits a connection from each address and takes it through its handshake to reading a
    /// head: open, serving no request, not idle.
    func headReaders(_ admission: GateAdmission, from ips: [String]) throws -> [EmbeddedChannel] {
        try ips.map { ip in
            let channel = try connection(from: ip)
            try #require(admission.admit(channel)).handshakeFinished()
            return channel
        }
    }

    @Test("a config with max_handshakes under the per-address default loads, and the per-address cap is the global one")
    func perAddressHandshakesNeverAboveTheGlobalCap() {
        var limits = LimitsConfig()
        limits.maxHandshakes = 8
        #expect(ConnectionGate.Configuration(limits: limits).maxHandshakesPerAddress == 8)
        limits.maxHandshakes = 256
        #expect(ConnectionGate.Configuration(limits: limits).maxHandshakesPerAddress == 16)
    }

    @Test("a trusted proxy is exempt from the per-address cap, an untrusted peer is not; the global cap holds for both")
    func trustedProxyIsExemptFromPerAddressCap() throws {
        guard case .success(let proxies) = TrustedProxies.parse(["192.0.2.10", "2001:db8::10"]) else {
            Issue.record("parse failed")
            return
        }
        let admission = GateAdmission(configuration: configuration(max: 5, perAddress: 1), trustedProxies: proxies, metrics: nil)
        let proxied = [try connection(from: "192.0.2.10"), try connection(from: "192.0.2.10")]
        for channel in proxied { #expect(admission.admit(channel) != nil) }
        #expect(admission.admit(try connection(from: "192.0.2.11")) != nil)
        #expect(admission.admit(try connection(from: "192.0.2.11")) == nil, "an untrusted peer keeps its cap")
        // A trusted IPv6 proxy does not make its /64 (the key of its neighbours) trusted.
        #expect(admission.admit(try connection(from: "2001:db8::10")) != nil)
        #expect(admission.admit(try connection(from: "2001:db8::11")) != nil)
        #expect(admission.admit(try connection(from: "2001:db8::12")) == nil)
        #expect(admission.snapshot.active == 5)
        #expect(admission.admit(try connection(from: "192.0.2.10")) == nil, "the global cap applies to a proxy")
        for channel in proxied {
            try channel.close().wait()
            channel.embeddedEventLoop.run()
        }
        #expect(admission.snapshot.active == 3)
    }

    @Test("an address at its own cap is refused without closing another client's idle connection")
    func noEvictionForARefusedAddress() throws {
        let admission = GateAdmission(configuration: configuration(max: 2, perAddress: 1), metrics: nil)
        let a = try idleConnection(admission, from: "192.0.2.1")   // idle, the oldest
        let b = try idleConnection(admission, from: "192.0.2.2")
        #expect(admission.admit(try connection(from: "192.0.2.2")) == nil)
        #expect(a.isActive && b.isActive)
        #expect(admission.snapshot.active == 2)
        // A client within its limits does make room: the oldest idle connection goes.
        #expect(admission.admit(try connection(from: "192.0.2.3")) != nil)
        #expect(!a.isActive && b.isActive)
    }

    /// A few addresses holding silent connections up to their own handshake cap filled the
    /// global one and locked every other new client out. Now, at the global cap, the address
    /// holding the most handshakes gives up its oldest to a client that would then hold fewer;
    /// addresses holding as many as the newcomer would are left alone, and it is refused.
    @Test("at the handshake cap the greediest address's oldest handshake makes room for a client that would hold fewer")
    func handshakeCapEvictsTheGreediestAddress() throws {
        let metrics = ServerMetrics()
        let admission = GateAdmission(configuration: configuration(handshakes: 4, handshakesPerAddress: 3), metrics: metrics)
        let a = try (0..<3).map { _ in try connection(from: "192.0.2.1") }
        for channel in a { #expect(admission.admit(channel) != nil) }
        let b = try connection(from: "192.0.2.2")
        #expect(admission.admit(b) != nil)
        // The cap (4) is reached. C would hold 1, A holds 3: A's oldest goes.
        let c = try connection(from: "192.0.2.3")
        #expect(admission.admit(c) != nil)
        #expect(!a[0].isActive && a[1].isActive && a[2].isActive)
        // B would hold 2, as many as A now: no one gives way.
        let b2 = try connection(from: "192.0.2.2")
        #expect(admission.admit(b2) == nil)
        #expect(b.isActive && a[1].isActive)
        let d = try connection(from: "192.0.2.4")
        #expect(admission.admit(d) != nil)
        #expect(!a[1].isActive && a[2].isActive)
        // One each: the next client is refused, and nothing is closed for it.
        let e = try connection(from: "192.0.2.5")
        #expect(admission.admit(e) == nil)
        #expect(a[2].isActive && b.isActive && c.isActive && d.isActive)
        #expect(admission.snapshot.handshaking == 4)
        let text = exposition(metrics)
        #expect(text.contains(#"mcp_connections_evicted_total{reason="handshakes"} 2"#))
        #expect(text.contains(#"mcp_connections_rejected_total{reason="handshakes"} 2"#))
    }

    /// With no idle connection to close at the global cap, the address holding the most
    /// connections that serve no request gives up its oldest to a client that would then hold
    /// fewer; a connection serving a request (a call, an SSE stream) is never the one closed.
    /// A few addresses trickling heads up to their own cap filled the global cap for good.
    @Test("at the global cap with nothing idle, the greediest address's oldest unoccupied connection makes room")
    func globalCapEvictsTheGreediestAddress() throws {
        let metrics = ServerMetrics()
        let admission = GateAdmission(configuration: configuration(max: 4, perAddress: 3), metrics: metrics)
        var tickets: [any AdmissionTicket] = []
        let a = try (0..<3).map { _ in try connection(from: "192.0.2.1") }
        for channel in a {
            let ticket = try #require(admission.admit(channel))
            ticket.handshakeFinished()  // then reading a head: not idle, not serving
            tickets.append(ticket)
        }
        let b = try connection(from: "192.0.2.2")
        _ = try #require(admission.admit(b))
        let c = try connection(from: "192.0.2.3")
        #expect(admission.admit(c) != nil)
        #expect(!a[0].isActive && a[1].isActive && a[2].isActive && b.isActive)
        // A's next connection has served a request whose answer may still be going out (not
        // listed idle yet): A holds one unoccupied, as many as a newcomer would. Refused,
        // nothing closed.
        tickets[1].serving(true)
        tickets[1].serving(false)
        let d = try connection(from: "192.0.2.4")
        #expect(admission.admit(d) == nil)
        #expect(a[1].isActive && a[2].isActive && b.isActive && c.isActive)
        let text = exposition(metrics)
        #expect(text.contains(#"mcp_connections_evicted_total{reason="global_cap"} 1"#))
        #expect(text.contains(#"mcp_connections_rejected_total{reason="global_cap"} 1"#))
    }

    /// A flood refused at a cap where no connection can be closed for it must not walk the
    /// open connections for every newcomer: for a second after a walk, while nothing is
    /// admitted, the counts it found answer a newcomer they say nothing can be closed for.
    /// A newcomer they might (one holding fewer than the one they answered), a newcomer after
    /// an admission, and one a second later walk again.
    @Test func aFruitlessWalkAnswersTheNextNewcomersForASecond() throws {
        final class TestClock: Sendable {
            let now = Mutex<Nanoseconds>(1_000_000_000)
            func advance(by seconds: Double) { now.withLock { $0 += Nanoseconds(seconds * 1e9) } }
        }
        let clock = TestClock()
        let admission = GateAdmission(configuration: configuration(max: 4, perAddress: 3), metrics: nil,
                                      clock: { clock.now.withLock { $0 } })
        let queue = admission.openConnections
        // Four addresses hold one connection each, reading a head: the cap is full, and no
        // address leads a newcomer (1 against 0 + 1) enough to close one of its for it.
        var held = try headReaders(admission, from: ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"])
        let walksBefore = queue.walks
        let first = try connection(from: "192.0.2.10")
        #expect(admission.admit(first) == nil)
        #expect(queue.walks == walksBefore + 1)
        for last in 11...60 {
            let newcomer = try connection(from: "192.0.2.\(last)")
            #expect(admission.admit(newcomer) == nil)
        }
        #expect(queue.walks == walksBefore + 1, "fifty more newcomers within the second, no walk")
        #expect(held.allSatisfy { $0.isActive })
        clock.advance(by: 1)
        let later = try connection(from: "192.0.2.61")
        #expect(admission.admit(later) == nil)
        #expect(queue.walks == walksBefore + 2, "a second later the counts are old: walked again")
        // Once a connection closes and another is admitted, the counts are stale: walked again.
        try held[3].close().wait()
        held[3].embeddedEventLoop.run()
        let second = try connection(from: "192.0.2.1")
        held[3] = second
        _ = try #require(admission.admit(second))
        let third = try connection(from: "192.0.2.62")
        #expect(admission.admit(third) != nil, "192.0.2.1 now holds 2, one more than a newcomer would: its oldest goes")
        #expect(queue.walks == walksBefore + 3)
        #expect(!held[0].isActive)
    }

    /// The cached counts answer only a newcomer they say nothing can be closed for: after a
    /// fruitless walk for an address holding two (as many as any), a newcomer holding none is
    /// one an address with two can make room for, and it walks and is admitted.
    @Test func theCachedCountsDoNotRefuseANewcomerHoldingFewer() throws {
        let admission = GateAdmission(configuration: configuration(max: 4, perAddress: 3), metrics: nil)
        let queue = admission.openConnections
        let held = try headReaders(admission, from: ["192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.3"])
        let walksBefore = queue.walks
        let third = try connection(from: "192.0.2.1")
        #expect(admission.admit(third) == nil, "its own address leads no one: refused")
        #expect(queue.walks == walksBefore + 1)
        let newcomer = try connection(from: "192.0.2.9")
        #expect(admission.admit(newcomer) != nil)
        #expect(queue.walks == walksBefore + 2)
        #expect(!held[0].isActive && held[1].isActive)
    }

    /// Room is made at the handshake cap only for a client every other check admits: one over
    /// its own connection rate, refused anyway, closed another client's handshake on each try.
    @Test func noHandshakeIsClosedForAClientOverItsRate() throws {
        let admission = GateAdmission(configuration: configuration(
            handshakes: 3, handshakesPerAddress: 3, perAddressRate: GCRA(ratePerSecond: 0.001, burst: 3)), metrics: nil)
        // C spends its three connections.
        for _ in 0..<3 {
            let c = try connection(from: "192.0.2.3")
            _ = try #require(admission.admit(c))
            try c.close().wait()
            c.embeddedEventLoop.run()
        }
        let a = try (0..<3).map { _ in try connection(from: "192.0.2.1") }
        for channel in a { #expect(admission.admit(channel) != nil) }
        let c4 = try connection(from: "192.0.2.3")
        #expect(admission.admit(c4) == nil, "over its rate: refused, and nothing closed for it")
        #expect(a[0].isActive && a[1].isActive && a[2].isActive)
        let d = try connection(from: "192.0.2.4")
        #expect(admission.admit(d) != nil, "a client within its rate is given room")
        #expect(!a[0].isActive)
    }

    /// The choice and the close are apart (the queue's lock, then the ticket's): a handshake
    /// that finished in between, on its own loop, is not closed as if still in progress.
    @Test func aConnectionIsEvictedOnlyIfItStillStandsAsChosen() throws {
        let admission = GateAdmission(configuration: configuration(), metrics: nil)
        let channel = try connection(from: "192.0.2.1")
        let ticket = try #require(admission.admit(channel) as? GateTicket)
        ticket.handshakeFinished()
        #expect(ticket.claim(ifStill: .handshaking) == nil)
        #expect(channel.isActive)
        ticket.serving(true)
        #expect(ticket.claim(ifStill: .unoccupied) == nil)
        ticket.serving(false)
        #expect(ticket.claim(ifStill: .unoccupied) == nil, "its answer may still be going out")
        #expect(ticket.claim(ifStill: .idle) == nil)
        ticket.connectionIdle(true)
        ticket.connectionIdle(false)
        #expect(ticket.claim(ifStill: .idle) == nil, "a request began: no longer idle")
        ticket.connectionIdle(true)
        let claimed = try #require(ticket.claim(ifStill: .idle))
        ticket.close(claimed)
        #expect(!channel.isActive)
        #expect(admission.snapshot.active == 0)
    }

    /// Finished handshakes leave the queue the eviction walks, which stays within about twice
    /// the handshakes in progress.
    @Test func finishedHandshakesLeaveTheQueue() throws {
        let admission = GateAdmission(configuration: configuration(max: 10_000, perAddress: 10_000), metrics: nil)
        for _ in 0..<1_000 {
            let ticket = try #require(admission.admit(try connection(from: "192.0.2.1")))
            ticket.handshakeFinished()
        }
        #expect(admission.handshaking.queueLength <= 64)
    }

    @Test("handshakes in progress, the connection-rate table and idle evictions are exported; an eviction is not a rejection")
    func metricsSeries() throws {
        let metrics = ServerMetrics()
        let admission = GateAdmission(
            configuration: configuration(max: 3, perAddressRate: GCRA(ratePerSecond: 1, burst: 5), rateTableCapacity: 2),
            metrics: metrics)
        var text = exposition(metrics)
        for series in ["mcp_tls_handshakes_in_progress 0", #"mcp_ratelimit_keys{limiter="connection"} 0"#,
                       #"mcp_ratelimit_evictions_total{limiter="connection"} 0"#] {
            #expect(text.contains(series), "\(series) before the first connection")
        }
        let a = try #require(admission.admit(try connection(from: "192.0.2.1")))
        _ = try #require(admission.admit(try connection(from: "192.0.2.2")))
        text = exposition(metrics)
        #expect(text.contains("mcp_tls_handshakes_in_progress 2"))
        #expect(text.contains(#"mcp_ratelimit_keys{limiter="connection"} 2"#))
        a.handshakeFinished()
        a.connectionIdle(true)
        #expect(exposition(metrics).contains("mcp_tls_handshakes_in_progress 1"))
        // A third address in a table of two evicts one.
        _ = try #require(admission.admit(try connection(from: "192.0.2.3")))
        text = exposition(metrics)
        #expect(text.contains(#"mcp_ratelimit_keys{limiter="connection"} 2"#))
        #expect(text.contains(#"mcp_ratelimit_evictions_total{limiter="connection"} 1"#))
        #expect(text.contains("mcp_connections_active 3"))
        // At the cap, A's idle connection makes room for a fourth client.
        _ = try #require(admission.admit(try connection(from: "192.0.2.4")))
        text = exposition(metrics)
        #expect(text.contains(#"mcp_connections_evicted_total{reason="global_cap"} 1"#))
        #expect(!text.contains("mcp_connections_rejected_total"))
        #expect(text.contains("mcp_connections_active 3"))
    }
}
