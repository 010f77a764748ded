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

    /// Each part that arrives is progress: past the budget the body that has gone longest
    /// without a byte is closed (here the second, as the first sent more meanwhile), not the
    /// one whose bytes passed it; and only once.
    @Test func theBodyStalledLongestIsClosedFirst() throws {
        let metrics = ServerMetrics()
        let budget = SharedByteBudget.bodies(capacity: 1_000, metrics: metrics)
        let loop = EmbeddedEventLoop()
        let (a, b, c) = (try connected(loop), try connected(loop), try connected(loop))
        let (first, second, third) = (budget.body(on: a), budget.body(on: b), budget.body(on: c))
        first.received(300)
        second.received(300)
        first.received(100)
        third.received(250)
        loop.run()
        #expect(budget.total == 950)
        #expect(a.isActive && b.isActive && c.isActive, "within the budget")
        third.received(100)
        loop.run()
        #expect(!b.isActive)
        #expect(a.isActive && c.isActive)
        // The chosen one stays counted until it lets go; the rest fit meanwhile.
        third.received(200)
        loop.run()
        #expect(a.isActive && c.isActive)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains(#"mcp_connections_evicted_total{reason="body_bytes"} 1"#))
        #expect(text.contains("mcp_buffered_body_bytes 1250"))
        #expect(text.contains("mcp_buffered_body_bytes_max 1000"))
        withExtendedLifetime((first, second, third)) {}
    }

    /// A body's bytes are released when its account goes (the body whole, or the request gone).
    @Test func aBodyLetsGoOfItsBytes() throws {
        let budget = SharedByteBudget.bodies(capacity: 1_000, metrics: nil)
        let loop = EmbeddedEventLoop()
        let channel = try connected(loop)
        do {
            let held = budget.body(on: channel)
            held.received(600)
            #expect(budget.total == 600)
        }
        #expect(budget.total == 0)
        let next = budget.body(on: channel)
        next.received(900)
        loop.run()
        #expect(channel.isActive, "the bytes let go no longer count")
        withExtendedLifetime(next) {}
    }
}
