import NIOCore
import NIOEmbedded
import RateLimit
import Testing
@testable import MCPServerKit

/// The idle keep-alive connections closed first at the global cap (issue 5 §4), marked busy
/// and idle again on every request.
@Suite struct IdleConnectionsTests {
    /// Admitted tickets (each through its handshake) and their channels.
    func tickets(_ count: Int, _ idle: IdleConnections) throws -> [(ticket: GateTicket, channel: EmbeddedChannel)] {
        let gate = SharedConnectionGate(.init(
            maxConnections: 1_000, maxPerAddress: 1_000, maxHandshakes: 1_000, maxHandshakesPerAddress: 1_000,
            perAddressRate: nil, globalRate: nil, rateTableCapacity: 16))
        return try (0..<count).map { _ in
            let key = try #require(ClientAddressKey(ip: "127.0.0.1"))
            #expect(gate.admit(key) == .admit)
            let channel = EmbeddedChannel()
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).wait()
            let ticket = GateTicket(gate: gate, key: key, channel: channel, idle: idle)
            ticket.handshakeFinished()
            return (ticket, channel)
        }
    }

    @Test("the longest idle connection is evicted first; busy ones never; one idle again counts from its new idle time")
    func evictionOrder() throws {
        let idle = IdleConnections()
        let t = try tickets(4, idle)
        for entry in t { entry.ticket.connectionIdle(true) }    // idle order: 0 1 2 3
        t[0].ticket.connectionIdle(false)                       // 0 serves a request...
        t[0].ticket.connectionIdle(true)                        // ...and waits again: 1 2 3 0
        t[2].ticket.connectionIdle(false)                       // 2 is busy: 1 3 0
        var closed: [Int] = []
        while idle.evictOldest() {
            closed.append(contentsOf: (0..<4).filter { !t[$0].channel.isActive && !closed.contains($0) })
        }
        #expect(closed == [1, 3, 0])
        #expect(t[2].channel.isActive)
    }

    /// The list is read under its own lock and the connection claimed under the ticket's: a
    /// request that began on it in between (its own loop) takes it out of the running, and the
    /// next idle one is closed instead.
    @Test func aConnectionNoLongerIdleWhenClaimedIsPassedOver() throws {
        let idle = IdleConnections()
        let t = try tickets(2, idle)
        // 0 is listed first but, by its own state, no longer idle (a head arrived on its loop
        // after the list was read: the listing is what the accepting thread saw).
        t[0].ticket.connectionIdle(false)
        idle.markIdle(t[0].ticket)
        t[1].ticket.connectionIdle(true)
        #expect(idle.evictOldest())
        #expect(t[0].channel.isActive, "passed over")
        #expect(!t[1].channel.isActive)
        #expect(!idle.evictOldest())
    }

    /// An eviction closes the ticket on the accepting thread and the channel later on its
    /// own loop: a response ending in between must not list the closed connection again.
    @Test("a connection closed by an eviction is not listed as idle again by a response that ends after it")
    func closedTicketIsNotIdleAgain() throws {
        let idle = IdleConnections()
        let t = try tickets(1, idle)
        t[0].ticket.connectionIdle(true)
        #expect(idle.evictOldest())
        t[0].ticket.closed()
        t[0].ticket.connectionIdle(true)
        #expect(idle.listedCount == 0)
        #expect(!idle.evictOldest())
    }

    @Test("the queue stays bounded while connections go busy and idle request after request")
    func boundedUnderChurn() throws {
        // The first version kept a stale entry for every connection that went busy and idle
        // again while another was idle, so the queue grew and every request scanned it.
        let idle = IdleConnections()
        let t = try tickets(32, idle)
        for entry in t { entry.ticket.connectionIdle(true) }
        for round in 0..<5_000 {
            let ticket = t[round % 32].ticket
            ticket.connectionIdle(false)
            ticket.connectionIdle(true)
            #expect(idle.queueLength <= 2 * 32 + 64 + 1)
        }
        var evicted = 0
        while idle.evictOldest() { evicted += 1 }
        #expect(evicted == 32)
    }
}
