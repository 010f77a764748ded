import HTTPTypes
import Hummingbird
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Synchronization
import Testing
@testable import MCPServerKit

/// A streamed response whose client is gone before its head is written still runs its body,
/// so that an SSE stream releases its slot and its session (`onEnd`).
@Suite struct RequestRunnerStreamTests {
    func closedSink() throws -> (EmbeddedChannel, ResponseSink) {
        let c = try RequestDispatcherTests().connect()
        c.read(.head(HTTPRequest(method: .get, scheme: nil, authority: "localhost", path: "/sse")), .end(nil))
        let sink = c.started[0].sink
        try c.channel.close().wait()
        c.channel.embeddedEventLoop.run()  // the pipeline is torn down: the head cannot be written
        return (c.channel, sink)
    }

    @Test("the body runs against a writer that refuses every part")
    func bodyRunsWhenTheHeadFails() async throws {
        let (_, sink) = try closedSink()
        let outcome = Mutex<(ran: Bool, refused: Bool)>((false, false))
        let body = ResponseBody { writer in
            outcome.withLock { $0.ran = true }
            do { try await writer.write(ByteBuffer(string: "data: x\n\n")) } catch { outcome.withLock { $0.refused = true } }
        }
        await RequestRunner.stream(HTTPResponse(status: .ok), body, to: sink)
        #expect(outcome.withLock { $0.ran && $0.refused })
    }

    @Test("an SSE response's clean-up runs when its connection closed before the head")
    func sseCleanUpRuns() async throws {
        let (channel, sink) = try closedSink()
        let ended = Mutex(0)
        let stream = SSEStream(capacity: 1 << 16, metrics: nil)
        stream.send(event: "endpoint", data: "/messages?sessionId=x")
        let response = SSEResponse.make(stream: stream, channel: channel, watch: .unwatched(channel), keepAlive: .comment, interval: .seconds(30)) {
            ended.withLock { $0 += 1 }
        }
        await RequestRunner.stream(response.head, response.body, to: sink)
        #expect(ended.withLock { $0 } == 1)
    }
}
