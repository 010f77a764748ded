import HTTPTypes
import Hummingbird
import Logging
import MCPCore
import NIOCore
import NIOEmbedded
import Testing
@testable import MCPServerKit

/// 2025-11-25 basic/transports.mdx "Sending Messages to the Server": a POST of a request is
/// answered with `application/json` or `text/event-stream`, and cancellation.mdx says no
/// response is sent for a cancelled request: the answer is an event stream with no event.
@Suite struct CancelledRequestAnswerTests {
    @Test("a JSON-mode request cancelled by notifications/cancelled is answered with an empty event stream, not 202")
    func cancelledRequestGetsAnEmptyStream() async throws {
        let started = AsyncStream<Void>.makeStream()
        let block = ToolDefinition(name: "block", description: "waits until cancelled", annotations: .readOnly, timeout: .seconds(20)) { _, _ in
            started.continuation.yield()
            try await Task.sleep(for: .seconds(20))
            return .text("late")
        }
        let dispatcher = MCPDispatcher(configuration: .init(identity: ServerIdentity(name: "t", version: "1")), registry: ToolRegistry([block]))
        let transport = StreamableHTTPTransport(dispatcher: dispatcher,
                                                sessions: SessionStore(maxSessions: 4, maxPerOwner: 4, idleTimeout: .seconds(60), metrics: nil),
                                                streams: StreamTracker(maxStreams: 4, maxPerOwner: 4, metrics: nil),
                                                options: ServerOptions(identity: ServerIdentity(name: "t", version: "1")), metrics: nil)
        let initialize = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
        let (status, body, session, _) = try await Self.post(transport, initialize, session: nil)
        try #require(status == 200, "\(body)")
        let sessionID = try #require(session)
        _ = try await Self.post(transport, #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, session: sessionID)
        let call = Task { try await Self.post(transport, #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"block"}}"#, session: sessionID) }
        var iterator = started.stream.makeAsyncIterator()
        _ = await iterator.next()
        let (cancelStatus, _, _, _) = try await Self.post(transport, #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}"#, session: sessionID)
        #expect(cancelStatus == 202)
        let (callStatus, callBody, _, contentType) = try await call.value
        #expect(callStatus == 200)
        #expect(callBody.isEmpty)
        #expect(contentType == "text/event-stream")
    }

    /// Status, body, `Mcp-Session-Id` and `Content-Type` of a POST to `/mcp` in JSON response mode.
    static func post(_ transport: StreamableHTTPTransport, _ body: String, session: String?) async throws -> (Int, String, String?, String?) {
        var fields: HTTPFields = [.accept: "application/json, text/event-stream", .contentType: "application/json"]
        if let session { fields[.mcpSessionID] = session; fields[.mcpProtocolVersion] = "2025-11-25" }
        let request = Request(head: HTTPRequest(method: .post, scheme: "https", authority: "localhost", path: "/mcp", headerFields: fields),
                              body: RequestBody(buffer: ByteBuffer()))
        var context = MCPRequestContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        context.completeBody = ByteBuffer(string: body)
        let response = await transport.post(request, context: context)
        let writer = CollectingWriter()
        try await response.body.write(writer)
        return (Int(response.status.code), writer.text.value, response.headers[.mcpSessionID], response.headers[.contentType])
    }
}
