import NIOCore
import NIOEmbedded
import Testing
@testable import MCPServerKit

/// `limits.max_buffered_body_bytes`: the request bodies still arriving share one budget.
@Suite struct SharedByteBudgetTests {
    private func connected(_ loop: EmbeddedEventLoop) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// Every `progressStep` bytes received are progress: past the budget the body that has
    /// gone longest without progress is closed (here the second, as the first sent a step
    /// more meanwhile), not the one whose bytes passed it; and only once. Counted is what
    /// each body's buffer holds.
    @Test func theBodyStalledLongestIsClosedFirst() throws {
        let metrics = ServerMetrics()
        let budget = SharedByteBudget.bodies(capacity: 1_000, metrics: metrics, progressStep: 100)
        let loop = EmbeddedEventLoop()
        let (a, b, c) = (try connected(loop), try connected(loop), try connected(loop))
        let (first, second, third) = (budget.body(on: a), budget.body(on: b), budget.body(on: c))
        first.received(300, holding: 300)
        second.received(300, holding: 300)
        first.received(100, holding: 400)
        third.received(250, holding: 250)
        loop.run()
        #expect(budget.total == 950)
        #expect(a.isActive && b.isActive && c.isActive, "within the budget")
        third.received(100, holding: 350)
        loop.run()
        #expect(!b.isActive)
        #expect(a.isActive && c.isActive)
        // The chosen one stays counted until it lets go; the rest fit meanwhile.
        third.received(200, holding: 550)
        loop.run()
        #expect(a.isActive && c.isActive)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains(#"mcp_connections_evicted_total{reason="body_bytes"} 1"#))
        #expect(text.contains("mcp_buffered_body_bytes 1250"))
        #expect(text.contains("mcp_buffered_body_bytes_max 1000"))
        withExtendedLifetime((first, second, third)) {}
    }

    /// Bytes that trickle in, less than a step in all, are no progress: a byte every few
    /// milliseconds would otherwise keep a stalled body ahead of every honest upload.
    @Test func aTrickleIsNoProgress() throws {
        let budget = SharedByteBudget.bodies(capacity: 1_000, metrics: nil, progressStep: 100)
        let loop = EmbeddedEventLoop()
        let (a, b, c) = (try connected(loop), try connected(loop), try connected(loop))
        let (trickler, sender, late) = (budget.body(on: a), budget.body(on: b), budget.body(on: c))
        trickler.received(400, holding: 400)
        sender.received(400, holding: 400)
        for _ in 0..<99 { trickler.received(1, holding: 400) }
        late.received(300, holding: 300)
        loop.run()
        #expect(!a.isActive)
        #expect(b.isActive && c.isActive)
        withExtendedLifetime((trickler, sender, late)) {}
    }

    /// The part that passes the budget counts as its sender's progress first: the oldest body,
    /// growing by a step, is not the one closed for its own bytes.
    @Test func aStepThatPassesTheBudgetIsProgressFirst() throws {
        let budget = SharedByteBudget.bodies(capacity: 1_000, metrics: nil, progressStep: 100)
        let loop = EmbeddedEventLoop()
        let (a, b) = (try connected(loop), try connected(loop))
        let (older, newer) = (budget.body(on: a), budget.body(on: b))
        older.received(400, holding: 400)
        newer.received(400, holding: 400)
        older.received(100, holding: 700)
        loop.run()
        #expect(a.isActive)
        #expect(!b.isActive)
        withExtendedLifetime((older, newer)) {}
    }

    /// A body's bytes are released when its account goes (the body whole, or the request gone).
    @Test func aBodyLetsGoOfItsBytes() throws {
        let budget = SharedByteBudget.bodies(capacity: 1_000, metrics: nil)
        let loop = EmbeddedEventLoop()
        let channel = try connected(loop)
        do {
            let held = budget.body(on: channel)
            held.received(600, holding: 1_000)
            #expect(budget.total == 1_000)
        }
        #expect(budget.total == 0)
        let next = budget.body(on: channel)
        next.received(900, holding: 1_000)
        loop.run()
        #expect(channel.isActive, "the bytes let go no longer count")
        withExtendedLifetime(next) {}
    }

    /// A holder's identifier is its object's address, which a body that completed leaves to
    /// the next one allocated, maybe on another connection. A close queued for the first
    /// must not close the first's connection on the second's account.
    @Test func aReusedIdentifierClosesOnlyItsOwnConnection() throws {
        let budget = SharedByteBudget.bodies(capacity: 1_000, metrics: nil)
        let loop = EmbeddedEventLoop()
        let (first, second, other, newcomer) = (try connected(loop), try connected(loop), try connected(loop), try connected(loop))
        let id = ObjectIdentifier(first)  // any identifier, given to two holders in turn
        budget.set(id, channel: first, to: 600)
        budget.set(ObjectIdentifier(other), channel: other, to: 600)  // the holder on `first` is chosen
        budget.set(id, channel: first, to: 0)  // and completes before its close runs
        budget.set(ObjectIdentifier(other), channel: other, to: 0)
        budget.set(id, channel: second, to: 600)  // the identifier, reused on `second`
        budget.set(ObjectIdentifier(newcomer), channel: newcomer, to: 600)  // chosen again
        loop.run()
        #expect(first.isActive, "the stale close left the connection that no longer holds anything")
        #expect(!second.isActive)
        #expect(other.isActive && newcomer.isActive)
    }
}
