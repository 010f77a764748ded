import Hummingbird
import MCPCore
import Testing

@testable import MCPServerKit

/// Graceful shutdown (issue 4 §8) ends the listening SSE streams with a final event; a legacy
/// SSE stream (2024-11-05 basic/transports.mdx "HTTP with SSE") also carries the answers to
/// its session's calls, so it ends only once it has sent the ones in flight.
@Suite struct StreamTrackerTests {
    func text(of stream: SSEStream) async throws -> String {
        var writer: any ResponseBodyWriter = CollectingWriter()
        _ = try await stream.pump(into: &writer)
        return (writer as! CollectingWriter).text.value
    }

    @Test("a listening stream owing nothing ends at once with the shutdown event")
    func idleListeningStreamEnds() async throws {
        let tracker = StreamTracker(maxStreams: 4, maxPerOwner: 4, metrics: nil)
        let stream = SSEStream(capacity: 1 << 16, metrics: nil)
        try tracker.open(stream, owner: "a", listening: true)
        tracker.drain()
        #expect(stream.end == .finished)
        #expect(try await text(of: stream).contains("event: shutdown\n"))
    }

    @Test("a legacy stream owing an answer stays open through the drain, then sends it and the shutdown event")
    func streamOwingAnAnswerEndsAfterIt() async throws {
        let tracker = StreamTracker(maxStreams: 4, maxPerOwner: 4, metrics: nil)
        let stream = SSEStream(capacity: 1 << 16, metrics: nil)
        try tracker.open(stream, owner: "a", listening: true)
        #expect(tracker.expectAnswer(on: stream))
        #expect(tracker.expectAnswer(on: stream))
        tracker.drain()
        #expect(stream.end == nil)
        stream.sendMessage(["id": 1])
        tracker.answered(on: stream)
        #expect(stream.end == nil)
        // A call posted during the drain is waited for too.
        #expect(tracker.expectAnswer(on: stream))
        stream.sendMessage(["id": 2])
        tracker.answered(on: stream)
        #expect(stream.end == nil)
        stream.sendMessage(["id": 3])
        tracker.answered(on: stream)
        #expect(stream.end == .finished)
        let shutdown = SSEStream.format(event: "shutdown", data: #"{"reason":"server shutting down"}"#)
        #expect(try await text(of: stream) == [1, 2, 3].map { SSEStream.format(event: "message", data: #"{"id":\#($0)}"#) }.joined() + shutdown)
    }

    @Test("answers before a drain change nothing; a stream the drain never saw is left alone")
    func answersOutsideTheDrain() throws {
        let tracker = StreamTracker(maxStreams: 4, maxPerOwner: 4, metrics: nil)
        let stream = SSEStream(capacity: 1 << 16, metrics: nil)
        try tracker.open(stream, owner: "a", listening: true)
        #expect(tracker.expectAnswer(on: stream))
        tracker.answered(on: stream)
        #expect(stream.end == nil)
        let untracked = SSEStream(capacity: 1 << 16, metrics: nil)
        tracker.drain()
        let expected = tracker.expectAnswer(on: untracked)
        #expect(!expected)
        tracker.answered(on: untracked)
        #expect(untracked.end == nil)
    }

    @Test("no answer is expected on a stream that has ended, or that the drain ended: its call is refused")
    func noAnswerOnAnEndedStream() {
        let tracker = StreamTracker(maxStreams: 4, maxPerOwner: 4, metrics: nil)
        let (idle, busy, cut) = (SSEStream(capacity: 1 << 16, metrics: nil), SSEStream(capacity: 1 << 16, metrics: nil), SSEStream(capacity: 1 << 16, metrics: nil))
        for stream in [idle, busy, cut] { try? tracker.open(stream, owner: "a", listening: true) }
        #expect(tracker.expectAnswer(on: busy))
        cut.finish()  // e.g. cut off as a slow reader, not yet closed
        let onCut = tracker.expectAnswer(on: cut)
        #expect(!onCut)
        tracker.drain()
        let onIdle = tracker.expectAnswer(on: idle)
        #expect(!onIdle)
        #expect(idle.end == .finished)
        // The busy one still takes calls until its last answer, then ends and takes none.
        #expect(tracker.expectAnswer(on: busy))
        tracker.answered(on: busy)
        tracker.answered(on: busy)
        #expect(busy.end == .finished)
        let afterEnd = tracker.expectAnswer(on: busy)
        #expect(!afterEnd)
        tracker.close(busy, owner: "a")
        let afterClose = tracker.expectAnswer(on: busy)
        #expect(!afterClose)
    }
}
