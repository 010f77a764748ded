import NIOEmbedded
import RateLimit
import Testing
@testable import MCPServerKit

/// The idle keep-alive connections closed first at the global cap (issue 5 §4), marked busy
/// and idle again on every request.
@Suite struct IdleConnectionsTests {
    func tickets(_ count: Int, _ idle: IdleConnections) -> [GateTicket] {
        let gate = SharedConnectionGate(.init(
            maxConnections: 1_000, maxPerAddress: 1_000, maxHandshakes: 1_000, maxHandshakesPerAddress: 1_000,
            perAddressRate: nil, globalRate: nil, rateTableCapacity: 16))
        return (0..<count).map { _ in
            GateTicket(gate: gate, key: ClientAddressKey(ip: "127.0.0.1")!, channel: EmbeddedChannel(), idle: idle)
        }
    }

    @Test("the longest idle connection is evicted first; busy ones never; one idle again counts from its new idle time")
    func evictionOrder() {
        let idle = IdleConnections()
        let t = tickets(4, idle)
        for ticket in t { idle.markIdle(ticket) }      // idle order: 0 1 2 3
        idle.markBusy(t[0])                             // 0 serves a request...
        idle.markIdle(t[0])                             // ...and waits again: 1 2 3 0
        idle.markBusy(t[2])                             // 2 is busy: 1 3 0
        #expect(idle.evictOldest() === t[1])
        #expect(idle.evictOldest() === t[3])
        #expect(idle.evictOldest() === t[0])
        #expect(idle.evictOldest() == nil)
    }

    /// An eviction closes the ticket on the accepting thread and the channel later on its
    /// own loop: a response ending in between must not list the closed connection again.
    @Test("a connection closed by an eviction is not listed as idle again by a response that ends after it")
    func closedTicketIsNotIdleAgain() {
        let idle = IdleConnections()
        let t = tickets(1, idle)
        t[0].connectionIdle(true)
        #expect(idle.evictOldest() === t[0])
        t[0].closed()
        t[0].connectionIdle(true)
        #expect(idle.evictOldest() == nil)
    }

    @Test("the queue stays bounded while connections go busy and idle request after request")
    func boundedUnderChurn() {
        // The first version kept a stale entry for every connection that went busy and idle
        // again while another was idle, so the queue grew and every request scanned it.
        let idle = IdleConnections()
        let t = tickets(32, idle)
        for ticket in t { idle.markIdle(ticket) }
        for round in 0..<5_000 {
            let ticket = t[round % 32]
            idle.markBusy(ticket)
            idle.markIdle(ticket)
            #expect(idle.queueLength <= 2 * 32 + 64 + 1)
        }
        var evicted = 0
        while idle.evictOldest() != nil { evicted += 1 }
        #expect(evicted == 32)
    }
}
