import HTTPTypes
import Hummingbird
import Logging
import MCPCore
import NIOCore
import NIOEmbedded
import Testing
@testable import MCPServerKit

/// The ops listener is bounded like the public one (DESIGN.md "nothing unbounded"): a cap on
/// its open connections, enforced at accept, and no request bodies.
@Suite struct OpsAdmissionTests {
    @Test("over server.http_max_connections, with every connection serving a request, a connection is refused at accept and counted; a close frees a place")
    func capsOpenConnections() throws {
        let metrics = ServerMetrics()
        let admission = OpsAdmission(maxConnections: 2, metrics: metrics)
        let first = EmbeddedChannel(), second = EmbeddedChannel()
        try #require(admission.admit(first)).serving(true)
        try #require(admission.admit(second)).serving(true)
        #expect(admission.admit(EmbeddedChannel()) == nil)
        #expect(String(decoding: metrics.render(), as: UTF8.self).contains(#"mcp_connections_rejected_total{reason="ops_cap"} 1"#))
        _ = try first.finish()
        #expect(admission.count == 1)
        #expect(admission.admit(EmbeddedChannel()) != nil)
        #expect(admission.count == 2)
    }

    @Test("at the cap the connection waiting longest (idle, silent or reading a head) is closed to admit a new one, and counted; one serving a request is not")
    func evictsLongestIdleAtCap() throws {
        let metrics = ServerMetrics()
        let admission = OpsAdmission(maxConnections: 3, metrics: metrics)
        func connected() throws -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
            return channel
        }
        let (a, b, c) = (try connected(), try connected(), try connected())
        let ticketA = try #require(admission.admit(a))
        let ticketB = try #require(admission.admit(b))
        let ticketC = try #require(admission.admit(c))
        for ticket in [ticketA, ticketB, ticketC] { ticket.serving(true) }
        // As the dispatcher and the deadlines say it: each response ends, the connection
        // is idle between requests; c's next request arrives and is served.
        for ticket in [ticketB, ticketA, ticketC] {
            ticket.serving(false)
            ticket.connectionIdle(true)
        }
        ticketC.connectionIdle(false)  // its next request's first byte: still waiting
        ticketC.serving(true)  // its task started: serving
        let d = try connected()
        let ticketD = try #require(admission.admit(d))
        #expect(!b.isActive && a.isActive && c.isActive)
        #expect(admission.count == 3)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains(#"mcp_connections_evicted_total{reason="ops_cap"} 1"#))
        #expect(!text.contains("mcp_connections_rejected_total"))
        // The evicted channel's close released nothing: its place is d's.
        #expect(admission.count == 3)
        // A head trickled byte by byte holds no place: a reads one and is still evicted
        // before d, which opened later and has sent nothing.
        ticketA.connectionIdle(false)
        let e = try connected()
        #expect(admission.admit(e) != nil)
        #expect(!a.isActive && c.isActive && d.isActive && e.isActive)
        ticketA.serving(true)  // late news from the evicted connection changes nothing
        ticketD.serving(true)
        let f = try connected()
        let ticketF = try #require(admission.admit(f))
        #expect(!e.isActive && f.isActive)
        ticketF.serving(true)
        // c, d and f serve requests: nothing can make room.
        #expect(admission.admit(EmbeddedChannel()) == nil)
        let after = String(decoding: metrics.render(), as: UTF8.self)
        #expect(after.contains(#"mcp_connections_evicted_total{reason="ops_cap"} 3"#))
        #expect(after.contains(#"mcp_connections_rejected_total{reason="ops_cap"} 1"#))
    }

    /// A SIGTERM during start-up drains first; the listener that binds afterwards must not
    /// announce the draining server as ready.
    @Test("readiness only moves forward: starting, ready, draining")
    func readinessOnlyMovesForward() {
        let readiness = Readiness()
        readiness.set(.draining)
        readiness.set(.ready)
        #expect(readiness.current == .draining)
        let normal = Readiness()
        normal.set(.ready)
        #expect(normal.current == .ready)
        normal.set(.starting)
        #expect(normal.current == .ready)
        normal.set(.draining)
        #expect(normal.current == .draining)
    }

    @Test("the ops routes refuse a request that frames a body with 413 and close, counted; one without passes")
    func refusesBodies() async throws {
        let metrics = ServerMetrics()
        let routes = OpsRoutes.routes(identity: .init(name: "t", version: "1"), readiness: Readiness(), metrics: metrics, status: { [:] })
        func status(_ fields: HTTPFields) async throws -> (Int, String?) {
            let request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: "/health", headerFields: fields),
                                  body: RequestBody(buffer: ByteBuffer()))
            let context = MCPRequestContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test")))
            let response = try await routes.respond(to: request, context: context)
            return (Int(response.status.code), response.headers[.connection])
        }
        #expect(try await status([:]).0 == 200)
        #expect(try await status([.contentLength: "0"]).0 == 200)
        #expect(try await status([.contentLength: "5"]) == (413, "close"))
        #expect(try await status([.transferEncoding: "chunked"]) == (413, "close"))
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains(#"mcp_ops_requests_refused_total{reason="body"} 2"#))
        #expect(text.contains(#"mcp_ops_requests_refused_total{reason="host"} 0"#))
    }

    /// DNS rebinding: a name pointed at 127.0.0.1 is same-origin to the browser, so its page
    /// could read these unauthenticated routes; its requests name it in Host (RFC 9110 §15.5.20, 421).
    @Test("the ops routes answer for localhost, IP literals and the allowed names only; a refusal is counted", arguments: [
        ("127.0.0.1", 200), ("127.0.0.1:9001", 200), ("localhost", 200), ("LocalHost:9001", 200), ("[::1]:9001", 200),
        ("scrape.internal", 200), ("SCRAPE.internal.:9001", 200),
        ("evil.example", 421), ("evil.example:9001", 421), ("127.0.0.1.evil.example", 421), ("localhost.evil.example", 421),
        ("scrape.internal.evil.example", 421),
    ])
    func answersOnlyForItsHosts(host: String, expected: Int) async throws {
        let metrics = ServerMetrics()
        let routes = OpsRoutes.routes(identity: .init(name: "t", version: "1"), allowedHosts: ["Scrape.Internal"], readiness: Readiness(),
                                      metrics: metrics, status: { [:] })
        let request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: host, path: "/health"), body: RequestBody(buffer: ByteBuffer()))
        let context = MCPRequestContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        #expect(Int(try await routes.respond(to: request, context: context).status.code) == expected)
        let refused = expected == 421 ? 1 : 0
        #expect(String(decoding: metrics.render(), as: UTF8.self).contains(#"mcp_ops_requests_refused_total{reason="host"} \#(refused)"#))
    }
}
