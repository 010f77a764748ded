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
