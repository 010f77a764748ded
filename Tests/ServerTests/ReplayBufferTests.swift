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
    func replaysItsOwnStream() async throws {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1 << 20)
        let a = try buffer.newStream()
        let b = try buffer.newStream()
        a.prime(retryMilliseconds: 1000)
        b.send(event: "message", data: "b1")
        a.send(event: "message", data: "a2")
        a.send(event: "message", data: "a3")
        let live = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(a.attach(live, after: 1))
        #expect(await received(live) == "event: message\nid: \(a.id)-2\ndata: a2\n\nevent: message\nid: \(a.id)-3\ndata: a3\n\n")
    }

    /// Missed events larger than a stream's write queue (a 300 KiB result behind a progress
    /// event; the queue holds 256 KiB, the replay buffer 1 MiB) are replayed whole: capped,
    /// the resumed stream overflowed before its head went out, on every retry.
    @Test("a replay larger than the stream's queue is sent whole, not cut off as a slow reader")
    func replayPastTheQueueCapacity() async throws {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1 << 20)
        let a = try buffer.newStream()
        a.send(event: "message", data: "progress")
        a.send(event: "message", data: String(repeating: "r", count: 3000))
        let live = SSEStream(capacity: 1024, metrics: nil)
        #expect(a.attach(live, after: 0))
        // A live event behind the replay fits: the queue's room grows by the replay unwritten.
        #expect(live.send(event: "message", data: "live"))
        let text = await received(live)
        #expect(text.contains("data: progress") && text.contains(String(repeating: "r", count: 3000)))
        #expect(text.hasSuffix("data: live\n\n"))
    }

    @Test("resuming from the latest event replays nothing; from an event never sent is refused")
    func upToDateAndFuture() async throws {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1 << 20)
        let a = try buffer.newStream()
        a.send(event: "message", data: "a1")
        let live = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(a.attach(live, after: 1))
        #expect(await received(live) == "")
        #expect(!a.attach(SSEStream(capacity: 1 << 16, metrics: nil), after: 2))
    }

    @Test("a stream whose later events were all pushed out by another stream's is refused, not resumed with nothing")
    func allLaterEventsDropped() throws {
        let buffer = ReplayBuffer(maxEvents: 2, maxBytes: 1024)
        let s1 = try buffer.newStream()
        let s2 = try buffer.newStream()
        s1.prime(retryMilliseconds: 1000)
        s2.send(event: "message", data: "x")
        s2.send(event: "message", data: "y")
        s1.send(event: "message", data: "the answer")
        s2.send(event: "message", data: "z")
        s2.send(event: "message", data: "w")
        #expect(!s1.attach(SSEStream(capacity: 1 << 16, metrics: nil), after: 1))
    }

    @Test("a dropped event's text is released at once, not when the array is next compacted: what the buffer holds stays under its byte cap")
    func droppedTextReleased() throws {
        let buffer = ReplayBuffer(maxEvents: 4, maxBytes: 4096)
        let stream = try buffer.newStream()
        let large = String(repeating: "x", count: 1000)
        for _ in 0..<200 { stream.send(event: "message", data: large) }
        #expect(buffer.heldTextBytes <= 4096, "held \(buffer.heldTextBytes) bytes")
    }

    @Test("the byte cap drops the oldest events: a resume that needs them is refused")
    func byteCap() throws {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1024)
        let a = try buffer.newStream()
        for i in 1...4 { a.send(event: "message", data: String(repeating: "\(i)", count: 400)) }
        #expect(!a.attach(SSEStream(capacity: 1 << 16, metrics: nil), after: 1))
        #expect(a.attach(SSEStream(capacity: 1 << 16, metrics: nil), after: 3))
    }

    /// An event over the byte cap (a 600 KB tool result, written twice, passes 1 MiB) is kept
    /// alone: it used to drop itself with every other event, so exactly the large answers could
    /// not be resumed. The older events go, and with the next event it goes too.
    @Test func anEventOverTheByteCapIsKeptAlone() async throws {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1024)
        let a = try buffer.newStream()
        a.send(event: "message", data: "progress")
        a.send(event: "message", data: String(repeating: "r", count: 3000))
        #expect(!a.attach(SSEStream(capacity: 1 << 16, metrics: nil), after: 0), "the older event was dropped")
        let live = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(a.attach(live, after: 1))
        live.finish()
        var writer: any ResponseBodyWriter = CollectingWriter()
        _ = try? await live.pump(into: &writer)
        #expect((writer as! CollectingWriter).text.value.contains(String(repeating: "r", count: 3000)))
        a.send(event: "message", data: "next")
        #expect(buffer.heldTextBytes < 1024)
    }

    /// A stream a connection carries must stay known to the buffer: ending the session ends
    /// only the connections of the streams it knows, so a forgotten live stream would outlive
    /// a DELETE.
    @Test("past the stream cap the oldest finished stream is forgotten, then the oldest no connection carries, never one a connection carries")
    func liveStreamsAreNeverForgotten() throws {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1 << 20, maxStreams: 3)
        let liveA = SSEStream(capacity: 1 << 16, metrics: nil)
        let a = try buffer.newStream(attaching: liveA)
        let b = try buffer.newStream()
        let c = try buffer.newStream()
        b.finish()
        let liveD = SSEStream(capacity: 1 << 16, metrics: nil)
        let d = try buffer.newStream(attaching: liveD)
        #expect(buffer.stream(b.id) == nil, "the finished stream goes first")
        #expect(buffer.stream(a.id) != nil && buffer.stream(c.id) != nil)
        let liveE = SSEStream(capacity: 1 << 16, metrics: nil)
        let e = try buffer.newStream(attaching: liveE)
        #expect(buffer.stream(c.id) == nil, "then the one no connection carries")
        #expect(throws: ReplayBuffer.Refusal.allStreamsOpen) { try buffer.newStream() }
        // A connection that leaves makes its stream forgettable again.
        d.detach(liveD)
        _ = try buffer.newStream()
        #expect(buffer.stream(d.id) == nil)
        buffer.clear()
        #expect(liveA.end == .finished && liveE.end == .finished)
        #expect(e.isFinished)
    }

    /// A finished stream whose connection still takes its last events is carried: it was the
    /// first forgotten, left in `attached` for the session's life, and a DELETE or revocation
    /// no longer ended its connection.
    @Test("a finished stream a connection still carries is not forgotten; the session's end still reaches it")
    func finishedCarriedStreamIsKept() throws {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1 << 20, maxStreams: 2)
        let live = SSEStream(capacity: 1 << 16, metrics: nil)
        let carried = try buffer.newStream(attaching: live)
        buffer.markFinished(carried.id)
        let free = try buffer.newStream()
        _ = try buffer.newStream()
        #expect(buffer.stream(carried.id) != nil, "carried, though finished")
        #expect(buffer.stream(free.id) == nil, "the one no connection carries goes")
        buffer.clear()
        #expect(live.end == .finished, "the session's end reaches the connection")
    }

    @Test("a stream the buffer forgot after it was looked up cannot be resumed, nor one of a session that ended")
    func forgottenStreamIsNotAttached() throws {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1 << 20, maxStreams: 1)
        let a = try buffer.newStream()
        a.send(event: "message", data: "a1")
        _ = try buffer.newStream()  // forgets a, which no connection carries
        let live = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(!a.attach(live, after: 1))
        let b = try #require(buffer.stream(2))
        buffer.clear()
        #expect(!b.attach(live, after: 0))
    }

    @Test("a stream resumed on a new connection counts as carried")
    func resumedStreamIsCarried() throws {
        let buffer = ReplayBuffer(maxEvents: 100, maxBytes: 1 << 20, maxStreams: 1)
        let a = try buffer.newStream()
        a.send(event: "message", data: "a1")
        let live = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(a.attach(live, after: 1))
        #expect(throws: ReplayBuffer.Refusal.allStreamsOpen) { try buffer.newStream() }
        buffer.clear()
        #expect(live.end == .finished)
    }

    @Test("events dropped at the caps are counted")
    func droppedEventsCounted() throws {
        let metrics = ServerMetrics()
        let buffer = ReplayBuffer(maxEvents: 2, maxBytes: 1 << 20, metrics: metrics)
        let a = try buffer.newStream()
        for i in 1...5 { a.send(event: "message", data: "\(i)") }
        let lines = String(decoding: metrics.render(), as: UTF8.self).split(separator: "\n")
        #expect(lines.contains("mcp_replay_events_dropped_total 3"))
    }
}
