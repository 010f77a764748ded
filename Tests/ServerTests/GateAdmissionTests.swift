import NIOCore
import NIOEmbedded
import RateLimit
import Testing
@testable import MCPServerKit

/// Admission at accept over the connection gate: which connections it refuses, and which idle
/// connection it closes to make room at the global cap (issue 5 §4).
@Suite struct GateAdmissionTests {
    func configuration(max: Int = 100, perAddress: Int = 100) -> ConnectionGate.Configuration {
        .init(maxConnections: max, maxPerAddress: perAddress, maxHandshakes: 100, maxHandshakesPerAddress: 100,
              perAddressRate: nil, globalRate: nil, rateTableCapacity: 16)
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
}
