import HTTPTypes
import Hummingbird
import Logging
import MCPCore
import NIOCore
import NIOEmbedded
import Testing
@testable import MCPServerKit

/// 2025-06-18 and 2025-11-25 basic/transports.mdx "Protocol Version Header": "If the server
/// receives a request with an invalid or unsupported `MCP-Protocol-Version`, it MUST respond
/// with `400 Bad Request`." What is supported follows `server.protocol_version`, the newest
/// revision `initialize` negotiates: a server pinned to 2025-06-18 never negotiated 2025-11-25.
@Suite struct ProtocolVersionHeaderTests {
    func transport(pinnedTo newest: String = ProtocolVersion.latestSessionEra) -> StreamableHTTPTransport {
        let dispatcher = MCPDispatcher(configuration: .init(identity: ServerIdentity(name: "t", version: "1"), newestSessionVersion: newest),
                                       registry: ToolRegistry([]))
        return StreamableHTTPTransport(dispatcher: dispatcher,
                                       sessions: SessionStore(maxSessions: 4, maxPerOwner: 4, idleTimeout: .seconds(60), metrics: nil),
                                       streams: StreamTracker(maxStreams: 4, maxPerOwner: 4, metrics: nil),
                                       options: ServerOptions(identity: ServerIdentity(name: "t", version: "1")), metrics: nil)
    }

    /// Status and body of one request to `/mcp`.
    func send(_ transport: StreamableHTTPTransport, _ method: HTTPRequest.Method, version: String?, body: String? = nil,
              fields extra: HTTPFields = [:]) async throws -> (Int, String) {
        var fields: HTTPFields = [.accept: "application/json, text/event-stream", .contentType: "application/json"]
        fields[.mcpProtocolVersion] = version
        fields.append(contentsOf: extra)
        let request = Request(head: HTTPRequest(method: method, scheme: "https", authority: "localhost", path: "/mcp", headerFields: fields),
                              body: RequestBody(buffer: ByteBuffer()))
        var context = MCPRequestContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        context.completeBody = ByteBuffer(string: body ?? "")
        let response: Response = switch method {
        case .get: await transport.get(request, context: context)
        case .delete: await transport.delete(request, context: context)
        default: await transport.post(request, context: context)
        }
        let writer = CollectingWriter()
        try await response.body.write(writer)
        return (Int(response.status.code), writer.text.value)
    }

    let ping = #"{"jsonrpc":"2.0","id":2,"method":"ping"}"#
    func initialize(_ version: String) -> String {
        #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"\#(version)","capabilities":{}}}"#
    }

    @Test("a pinned server refuses a newer session-era version in the header with 400, on every method")
    func newerThanThePinIsUnsupported() async throws {
        let pinned = transport(pinnedTo: "2025-06-18")
        let session: HTTPFields = [.mcpSessionID: "unknown"]
        let (status, body) = try await send(pinned, .post, version: "2025-11-25", body: ping, fields: session)
        #expect(status == 400)
        #expect(body.contains(#""code":-32022"#), "\(body)")
        #expect(body.contains("Unsupported MCP-Protocol-Version: 2025-11-25; this server supports 2026-07-28, 2025-06-18, 2025-03-26, 2024-11-05"), "\(body)")
        #expect(body.contains(#""supported":["2026-07-28","2025-06-18","2025-03-26","2024-11-05"]"#), "\(body)")
        #expect(try await send(pinned, .get, version: "2025-11-25", fields: session).0 == 400)
        #expect(try await send(pinned, .delete, version: "2025-11-25", fields: session).0 == 400)
        // What it does negotiate passes the check (and the unknown session is then a 404).
        #expect(try await send(pinned, .post, version: "2025-06-18", body: ping, fields: session).0 == 404)
        #expect(try await send(pinned, .post, version: "2024-11-05", body: ping, fields: session).0 == 404)
        // The pin is the session era's; the stateless revision is not negotiated by initialize.
        let stateless: HTTPFields = [.init("Mcp-Method")!: "server/discover"]
        let discover = #"{"jsonrpc":"2.0","id":3,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#
        #expect(try await send(pinned, .post, version: "2026-07-28", body: discover, fields: stateless).0 == 200)
    }

    @Test("initialize needs only a known version in the header: the body's negotiation answers with the pinned one")
    func initializeNegotiates() async throws {
        let pinned = transport(pinnedTo: "2025-06-18")
        let (status, body) = try await send(pinned, .post, version: "2025-11-25", body: initialize("2025-11-25"))
        #expect(status == 200)
        #expect(body.contains(#""protocolVersion":"2025-06-18""#), "\(body)")
        #expect(try await send(pinned, .post, version: "1999-01-01", body: initialize("2025-11-25")).0 == 400)
    }

    @Test("the default server accepts every session-era version in the header, and refuses an unknown one")
    func defaultsUnchanged() async throws {
        let server = transport()
        let session: HTTPFields = [.mcpSessionID: "unknown"]
        for version in ProtocolVersion.sessionEra {
            #expect(try await send(server, .post, version: version, body: ping, fields: session).0 == 404)
        }
        #expect(try await send(server, .post, version: nil, body: ping, fields: session).0 == 404)
        #expect(try await send(server, .post, version: "2025-13-01", body: ping, fields: session).0 == 400)
    }
}
