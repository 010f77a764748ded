import Hummingbird
import Testing

@testable import MCPServerKit

/// Resumption from `Last-Event-ID` (2025-11-25 basic/transports.mdx "Resumability and
/// Redelivery": the server replays what would have been sent after that event, on the stream
/// that was disconnected) is all or nothing: a client whose missed events were dropped from
/// the bounded buffer is refused, never resumed with a gap.
@Suite struct ReplayBufferTests {
    /// What a connection attached to a logical stream received, once it is finished.
    func received(_ stream: SSEStream) async -> String {
        stream.finish()
        var writer: any ResponseBodyWriter = CollectingWriter()
        _ = try? await stream.pump(into: &writer)
        return (writer as! CollectingWriter).text.value
    }

    @Test("the events after the last one seen are replayed, of that stream only, in order")
    func replaysItsOwnStream() async {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1 << 20)
        let a = buffer.newStream()
        let b = buffer.newStream()
        a.prime(retryMilliseconds: 1000)
        b.send(event: "message", data: "b1")
        a.send(event: "message", data: "a2")
        a.send(event: "message", data: "a3")
        let live = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(a.attach(live, after: 1))
        #expect(await received(live) == "event: message\nid: \(a.id)-2\ndata: a2\n\nevent: message\nid: \(a.id)-3\ndata: a3\n\n")
    }

    @Test("resuming from the latest event replays nothing; from an event never sent is refused")
    func upToDateAndFuture() async {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1 << 20)
        let a = buffer.newStream()
        a.send(event: "message", data: "a1")
        let live = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(a.attach(live, after: 1))
        #expect(await received(live) == "")
        #expect(!a.attach(SSEStream(capacity: 1 << 16, metrics: nil), after: 2))
    }

    @Test("a stream whose later events were all pushed out by another stream's is refused, not resumed with nothing")
    func allLaterEventsDropped() {
        let buffer = ReplayBuffer(maxEvents: 2, maxBytes: 1024)
        let s1 = buffer.newStream()
        let s2 = buffer.newStream()
        s1.prime(retryMilliseconds: 1000)
        s2.send(event: "message", data: "x")
        s2.send(event: "message", data: "y")
        s1.send(event: "message", data: "the answer")
        s2.send(event: "message", data: "z")
        s2.send(event: "message", data: "w")
        #expect(!s1.attach(SSEStream(capacity: 1 << 16, metrics: nil), after: 1))
    }

    @Test("a dropped event's text is released at once, not when the array is next compacted: what the buffer holds stays under its byte cap")
    func droppedTextReleased() {
        let buffer = ReplayBuffer(maxEvents: 4, maxBytes: 4096)
        let stream = buffer.newStream()
        let large = String(repeating: "x", count: 1000)
        for _ in 0..<200 { stream.send(event: "message", data: large) }
        #expect(buffer.heldTextBytes <= 4096, "held \(buffer.heldTextBytes) bytes")
    }

    @Test("the byte cap drops the oldest events: a resume that needs them is refused")
    func byteCap() {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1024)
        let a = buffer.newStream()
        for i in 1...4 { a.send(event: "message", data: String(repeating: "\(i)", count: 400)) }
        #expect(!a.attach(SSEStream(capacity: 1 << 16, metrics: nil), after: 1))
        #expect(a.attach(SSEStream(capacity: 1 << 16, metrics: nil), after: 3))
    }
}
