import HTTPTypes
import Hummingbird
import Logging
import MCPCore
import NIOCore
import NIOEmbedded
import RateLimit
import Testing
@testable import MCPServerKit

/// The public routes answer as Hummingbird's router did (issue 4: every route behind the
/// Origin check and the bearer token; RFC 9110 §15.5.5: 404 for a resource the server has
/// not, including a method a path has no handler for).
@Suite struct PublicRoutesTests {
    /// Allows the token "good" and refuses anything else.
    struct OneToken: RequestAuthenticator {
        func authenticate(authorization: String?, clientAddress: String) -> AuthOutcome {
            authorization == "Bearer good"
                ? .allowed(.init(name: "ci", allowsWrites: true))
                : .denied(reason: "invalid", message: "Unauthorized", tokenPresented: authorization != nil, retryAfter: nil)
        }
    }

    func routes() -> PublicRoutes {
        var routes = PublicRoutes(gate: RequestGate(origins: OriginPolicy(allowed: []), authenticator: OneToken(),
                                                    trustedProxies: TrustedProxies(), rateLimiter: nil, metrics: nil))
        routes.on(.post, "/mcp") { _, context in Response(status: .ok, headers: [.init("Principal")!: context.principal?.name ?? "none"]) }
        routes.on(.get, "/mcp") { _, _ in Response(status: .accepted) }
        routes.on(.post, "/api/mcp/v1/sse/rpc") { _, _ in Response(status: .created) }
        routes.on(.post, "/refused") { _, _ in throw HTTPError(.conflict) }
        return routes
    }

    /// What one readiness event reads stays unparsed while a connection's requests wait for
    /// its client: NIO's four reads of up to 64 KiB were 256 KiB per connection that nothing
    /// counted; a connection is set to one.
    @Test func aConnectionReadsOncePerEvent() throws {
        let child = PublicChildChannel(runner: RequestRunner(responder: routes(), logger: Logger(label: "test")), security: nil, admission: nil,
                                       extraHandlers: { [] }, decoderLimits: .init(), headerTimeout: .seconds(10), idleTimeout: .seconds(60),
                                       lingerTimeout: .seconds(2), unsent: nil, metrics: nil)
        let channel = EmbeddedChannel()
        _ = try child.prepare(channel: channel, watch: ConnectionWatch(), logger: Logger(label: "test")) { _ in ({ _ in }, nil) }
        // Read from the options set (asked for one never set, EmbeddedChannel traps).
        let reads = channel.options.first { $0.option is ChannelOptions.Types.MaxMessagesPerReadOption }?.value as? UInt
        #expect(reads == 1)
        _ = try? channel.finish()
    }

    func status(_ method: HTTPRequest.Method, _ path: String, token: String? = "good") async throws -> (Int, String?) {
        var fields = HTTPFields()
        if let token { fields[.authorization] = "Bearer \(token)" }
        let request = Request(head: HTTPRequest(method: method, scheme: "https", authority: "localhost", path: path, headerFields: fields),
                              body: RequestBody(buffer: ByteBuffer()))
        let context = MCPRequestContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        let response = try await routes().respond(to: request, context: context)
        return (Int(response.status.code), response.headers[.init("Principal")!])
    }

    /// What RequestRunner answers for an error a route lets through (500, or a refusal's own
    /// status) is counted too: before, only responses and `HTTPResponseError`s were.
    @Test("mcp_http_responses_total counts the answers to errors a route throws, not those for a connection gone")
    func thrownErrorsAreCounted() async throws {
        struct Boom: Error {}
        let metrics = ServerMetrics()
        var routes = PublicRoutes(gate: RequestGate(origins: OriginPolicy(allowed: []), authenticator: OneToken(),
                                                    trustedProxies: TrustedProxies(), rateLimiter: nil, metrics: metrics))
        routes.on(.post, "/boom") { _, _ in throw Boom() }
        routes.on(.post, "/refusal") { _, _ in throw RequestRefusal(.requestHeaderFieldsTooLarge) }
        // The last for a connection already gone (a body cut off by its deadline): never
        // written, so not counted.
        for (path, connected) in [("/boom", true), ("/refusal", true), ("/boom", false)] {
            let request = Request(head: HTTPRequest(method: .post, scheme: "https", authority: "localhost", path: path,
                                                    headerFields: [.authorization: "Bearer good"]),
                                  body: RequestBody(buffer: ByteBuffer()))
            let channel = EmbeddedChannel()
            if connected { try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)) }
            let context = MCPRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: Logger(label: "test")))
            _ = try? await routes.respond(to: request, context: context)
        }
        let lines = String(decoding: metrics.render(), as: UTF8.self).split(separator: "\n")
        #expect(lines.contains(#"mcp_http_responses_total{code="500"} 1"#))
        #expect(lines.contains(#"mcp_http_responses_total{code="431"} 1"#))
    }

    /// RFC 9110 §15.5.6 (and the Go server's "Wrong method 405"): a routed path asked with
    /// another method is 405 with the methods it has; an unrouted one 404, both after the gate.
    @Test("a routed path with another method is 405 with Allow; an unknown path 404; the gate first")
    func wrongMethodIs405() async throws {
        func answer(_ method: HTTPRequest.Method, _ path: String, token: String? = "good") async throws -> Response {
            var fields = HTTPFields()
            if let token { fields[.authorization] = "Bearer \(token)" }
            let request = Request(head: HTTPRequest(method: method, scheme: "https", authority: "localhost", path: path, headerFields: fields),
                                  body: RequestBody(buffer: ByteBuffer()))
            let context = MCPRequestContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test")))
            return try await routes().respond(to: request, context: context)
        }
        let wrong = try await answer(.delete, "/api/mcp/v1/sse/rpc")
        #expect(wrong.status == .methodNotAllowed)
        #expect(wrong.headers[.allow] == "POST")
        let mcp = try await answer(.put, "//mcp")
        #expect(mcp.status == .methodNotAllowed)
        #expect(mcp.headers[.allow] == "GET, POST")
        #expect(try await answer(.get, "/nothing").status == .notFound)
        #expect(try await answer(.delete, "/api/mcp/v1/sse/rpc", token: nil).status == .unauthorized)
    }

    @Test func routesByMethodAndPathAfterTheGate() async throws {
        #expect(try await status(.post, "/mcp") == (200, "ci"))
        #expect(try await status(.get, "/mcp").0 == 202)
        #expect(try await status(.post, "/api/mcp/v1/sse/rpc").0 == 201)
        // The query is not part of the path.
        #expect(try await status(.post, "/mcp?x=1") == (200, "ci"))
    }

    @Test func emptySegmentsAreIgnoredAndCaseIsNot() async throws {
        #expect(try await status(.post, "/mcp/").0 == 200)
        #expect(try await status(.post, "//mcp").0 == 200)
        #expect(try await status(.post, "/api//mcp/v1/sse/rpc/").0 == 201)
        #expect(try await status(.post, "/MCP").0 == 404)
        #expect(try await status(.post, "/mcp/x").0 == 404)
        #expect(try await status(.post, "/").0 == 404)
    }

    @Test func unknownRouteOrMethodIs404Or405OnlyForAnAuthenticatedCaller() async throws {
        #expect(try await status(.delete, "/mcp").0 == 405)
        #expect(try await status(.head, "/mcp").0 == 405)
        #expect(try await status(.head, "/mcp", token: nil).0 == 401)
        #expect(try await status(.get, "/nothing-here").0 == 404)
        #expect(try await status(.get, "/nothing-here", token: nil).0 == 401)
        #expect(try await status(.get, "/nothing-here", token: "bad").0 == 401)
        #expect(try await status(.post, "/mcp", token: nil).0 == 401)
    }

    @Test func aThrownHTTPErrorIsAnswered() async throws {
        #expect(try await status(.post, "/refused").0 == 409)
    }

    @Test func canonicalForm() {
        #expect(PublicRoutes.canonical("/mcp") == "/mcp")
        #expect(PublicRoutes.canonical("mcp//x/") == "/mcp/x")
        #expect(PublicRoutes.canonical("") == "/")
        #expect(PublicRoutes.canonical("///") == "/")
    }
}
