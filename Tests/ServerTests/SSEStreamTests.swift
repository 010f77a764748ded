import Hummingbird
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import MCPServerKit

/// The stream's bounded queue: an event always fits an empty queue; a reader that does not
/// take what is queued is cut off once the next event would pass the capacity.
@Suite struct SSEStreamTests {
    /// Starts `stream`'s pump into a ``GatedWriter`` and returns once its first write is held.
    static func pumpHeldAtItsFirstWrite(_ stream: SSEStream) async -> (GatedWriter, Task<SSEStream.End, any Error>) {
        let writer = GatedWriter()
        let pump = Task {
            var any: any ResponseBodyWriter = writer
            return try await stream.pump(into: &any)
        }
        await writer.entered.first { _ in true }
        return (writer, pump)
    }

    @Test("an event larger than the capacity is delivered when nothing is queued")
    func largeEventIntoEmptyQueue() async {
        let stream = SSEStream(capacity: 1024, metrics: nil)
        let big = String(repeating: "x", count: 4096)
        #expect(stream.send(event: "message", data: big))
        stream.finish()
        var writer: any ResponseBodyWriter = CollectingWriter()
        let end = try? await stream.pump(into: &writer)
        #expect(end == .finished)
        #expect((writer as! CollectingWriter).text.value == "event: message\ndata: \(big)\n\n")
    }

    @Test("a reader that leaves events queued is cut off once the queue and its one place for an event that does not fit are full")
    func overflowWhenQueued() {
        let stream = SSEStream(capacity: 1024, metrics: nil)
        let overflowed = Mutex(0)
        stream.onOverflow { overflowed.withLock { $0 += 1 } }
        #expect(stream.send(event: "message", data: String(repeating: "a", count: 600)))
        #expect(stream.send(event: "message", data: String(repeating: "b", count: 600)), "past the capacity: the one place")
        #expect(stream.end == nil)
        #expect(!stream.send(event: "message", data: String(repeating: "c", count: 600)))
        #expect(stream.end == .overflow)
        #expect(!stream.sendComment("ping"))
        #expect(overflowed.withLock { $0 } == 1)
    }

    /// Behind a queued large event, what fits the capacity still queues (a ping there cut the
    /// stream until 2026-12-05); a second large one does not.
    @Test("events that fit the capacity queue behind a large one; a second large one overflows")
    func largeThenAnother() {
        let stream = SSEStream(capacity: 1024, metrics: nil)
        #expect(stream.send(event: "message", data: String(repeating: "x", count: 4096)))
        #expect(stream.sendComment("ping"))
        #expect(stream.end == nil)
        #expect(stream.send(event: "message", data: String(repeating: "s", count: 900)), "fits the capacity")
        #expect(!stream.send(event: "message", data: String(repeating: "y", count: 4096)))
        #expect(stream.end == .overflow)
    }

    /// A large event being written to a reader that keeps up is no longer queued: a ping sent
    /// meanwhile is queued behind it, and so is a second large event (until 2026-12-05 that
    /// one cut the stream of a client still reading the first). A third, while the second
    /// still waits, is one large event more than a stalled reader may hold.
    @Test func anEventBeingWrittenIsNotQueued() async throws {
        let stream = SSEStream(capacity: 1024, metrics: nil)
        let big = String(repeating: "x", count: 4096)
        #expect(stream.send(event: "message", data: big))
        let (writer, pump) = await Self.pumpHeldAtItsFirstWrite(stream)
        #expect(stream.sendComment("ping"), "queued behind the event in flight")
        #expect(stream.send(event: "message", data: big), "a second large event")
        #expect(stream.end == nil)
        #expect(!stream.send(event: "message", data: big))
        #expect(stream.end == .overflow)
        stream.finish()
        writer.release()
        #expect(try await pump.value == .overflow)
        #expect(writer.text.value.hasPrefix("event: message\ndata: \(big)\n\n"))
    }

    /// Two large answers back to back reach a reader that takes them, with what came between.
    @Test func twoLargeEventsReachAReaderThatKeepsUp() async throws {
        let stream = SSEStream(capacity: 1024, metrics: nil)
        let (first, second) = (String(repeating: "x", count: 4096), String(repeating: "y", count: 4096))
        #expect(stream.send(event: "message", data: first))
        let (writer, pump) = await Self.pumpHeldAtItsFirstWrite(stream)
        #expect(stream.sendComment("ping"))
        #expect(stream.send(event: "message", data: second))
        writer.release()
        // Once the first is out, the place for a large event is free again.
        for _ in 0..<100_000 where writer.text.value.count < 8192 { await Task.yield() }
        try #require(writer.text.value.count >= 8192)
        #expect(stream.send(event: "message", data: first))
        stream.finish()
        #expect(try await pump.value == .finished)
        #expect(writer.text.value == "event: message\ndata: \(first)\n\n: ping\n\nevent: message\ndata: \(second)\n\nevent: message\ndata: \(first)\n\n")
    }

    /// A large event while a small one is being written still fits the empty queue.
    @Test func aLargeEventBehindASmallOneInFlightFits() async throws {
        let stream = SSEStream(capacity: 1024, metrics: nil)
        #expect(stream.sendComment("ping"))
        let (writer, pump) = await Self.pumpHeldAtItsFirstWrite(stream)
        #expect(stream.send(event: "message", data: String(repeating: "x", count: 4096)))
        stream.finish()
        writer.release()
        #expect(try await pump.value == .finished)
    }
}

/// Holds its first write until `release()`, and says when that write began.
struct GatedWriter: ResponseBodyWriter {
    let text = CollectingWriter.Text()
    let entered: AsyncStream<Void>
    private let enteredContinuation: AsyncStream<Void>.Continuation
    private let gate: AsyncStream<Void>
    private let gateContinuation: AsyncStream<Void>.Continuation

    init() {
        (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
        (gate, gateContinuation) = AsyncStream<Void>.makeStream()
    }

    func release() { gateContinuation.finish() }

    mutating func write(_ buffer: ByteBuffer) async throws {
        enteredContinuation.yield()
        for await _ in gate {}
        text.append(String(buffer: buffer))
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// `limits.max_unsent_bytes`: what an event stream queues is charged to the shared budget on
/// its connection until its pump ends. Without it, 2048 stalled streams, each with a full
/// queue and a large answer waiting, held gigabytes no budget saw.
@Suite struct SSEStreamChargeTests {
    /// A connected channel on `loop`, which the tests run from any thread (the pump's).
    private func connected(_ loop: NIOAsyncTestingEventLoop) async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel(loop: loop)
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        return channel
    }

    /// Two streams, each charged on a connection of its own to one budget of 10,000 bytes.
    private func twoStreams(metrics: ServerMetrics? = nil) async throws
        -> (budget: SharedByteBudget, loop: NIOAsyncTestingEventLoop, channels: (NIOAsyncTestingChannel, NIOAsyncTestingChannel), streams: (SSEStream, SSEStream)) {
        let budget = SharedByteBudget.unsent(capacity: 10_000, metrics: metrics)
        let loop = NIOAsyncTestingEventLoop()
        let (a, b) = (try await connected(loop), try await connected(loop))
        let (first, second) = (SSEStream(capacity: 8192, metrics: nil), SSEStream(capacity: 8192, metrics: nil))
        first.charge(to: budget, on: a)
        second.charge(to: budget, on: b)
        return (budget, loop, (a, b), (first, second))
    }

    private static func format(_ data: String) -> String { SSEStream.format(event: "message", data: data) }
    private static func size(_ data: String) -> Int { format(data).utf8.count }

    /// Charged: what was queued before the charge and what is queued after; not the event being
    /// written (one write, which the codec charges), and nothing once the pump has ended.
    @Test func whatAStreamQueuesIsCharged() async throws {
        let budget = SharedByteBudget.unsent(capacity: 1 << 20, metrics: nil)
        let channel = try await connected(NIOAsyncTestingEventLoop())
        let stream = SSEStream(capacity: 1024, metrics: nil)
        let ping = ": ping\n\n".utf8.count
        #expect(stream.sendComment("ping"))
        stream.charge(to: budget, on: channel)
        #expect(budget.total == ping)
        let big = String(repeating: "x", count: 4096)
        #expect(stream.send(event: "message", data: big))
        #expect(budget.total == ping + Self.size(big))
        let (writer, pump) = await SSEStreamTests.pumpHeldAtItsFirstWrite(stream)
        #expect(budget.total == Self.size(big), "the ping being written is the codec's to count")
        #expect(stream.sendComment("ping"))
        #expect(budget.total == Self.size(big) + ping)
        stream.finish()
        writer.release()
        #expect(try await pump.value == .finished)
        #expect(budget.total == 0)
    }

    /// Past the budget the stream whose reader has gone longest without taking an event is
    /// closed, not the one whose event passed it; counted as `reason="unsent_bytes"`.
    @Test func theStreamStalledLongestIsClosedPastTheBudget() async throws {
        let metrics = ServerMetrics()
        let (_, loop, (a, b), (stalled, other)) = try await twoStreams(metrics: metrics)
        #expect(stalled.send(event: "message", data: String(repeating: "s", count: 6000)))
        #expect(other.send(event: "message", data: String(repeating: "o", count: 1500)))
        await loop.run()
        #expect(a.isActive && b.isActive, "within the budget")
        #expect(other.send(event: "message", data: String(repeating: "o", count: 3000)))
        await loop.run()
        #expect(!a.isActive)
        #expect(b.isActive)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains(#"mcp_connections_evicted_total{reason="unsent_bytes"} 1"#))
        withExtendedLifetime((stalled, other)) {}
    }

    /// An event taken off the queue (the one before it written) is the reader's progress: the
    /// stream that took one is not the one closed, though it began to hold bytes first.
    @Test func aReaderTakingEventsIsNotTheOneClosed() async throws {
        let (budget, loop, (a, b), (reading, stalled)) = try await twoStreams()
        let (r, s) = (String(repeating: "r", count: 3000), String(repeating: "s", count: 3000))
        #expect(reading.send(event: "message", data: r))
        #expect(stalled.send(event: "message", data: s))
        let writer = SteppedWriter()
        let pump = Task {
            var any: any ResponseBodyWriter = writer
            return try await reading.pump(into: &any)
        }
        let stalledBytes = Self.size(s)
        for _ in 0..<100_000 where budget.total > stalledBytes { await Task.yield() }
        try #require(budget.total == stalledBytes, "the reader's pump took its event")
        // Queued behind the one being written; both streams now hold more than the budget.
        let next = String(repeating: "r", count: 5000)
        #expect(reading.send(event: "message", data: next))
        #expect(stalled.send(event: "message", data: s))
        #expect(budget.total > 10_000)
        await loop.run()
        #expect(a.isActive)
        #expect(!b.isActive)
        reading.finish()
        writer.allow()
        writer.allow()
        #expect(try await pump.value == .finished)
        #expect(writer.text.value == Self.format(r) + Self.format(next))
        withExtendedLifetime(stalled) {}
    }

    /// The answer a connection's codec is writing and its stream's queue are one holder, the
    /// connection: the kernel taking some of a large answer (the codec's look) is progress for
    /// the answer queued behind it too. As two holders, the queue of a reader taking a large
    /// answer slowly was the oldest without progress, and was closed before a client that
    /// took nothing.
    @Test func theAnswerBeingWrittenAndTheQueueAreOneHolder() async throws {
        let (budget, loop, (a, b), (slow, stalled)) = try await twoStreams()
        budget.change(5000, on: a)  // the answer `a`'s codec is writing
        #expect(slow.send(event: "message", data: String(repeating: "a", count: 2000)))
        #expect(stalled.send(event: "message", data: String(repeating: "s", count: 2000)))
        #expect(budget.total == 5000 + 2 * Self.size(String(repeating: "s", count: 2000)))
        budget.progressed(on: a)  // the kernel took some of `a`'s answer
        #expect(stalled.send(event: "message", data: String(repeating: "s", count: 1500)))
        #expect(budget.total > 10_000)
        await loop.run()
        #expect(a.isActive)
        #expect(!b.isActive)
        budget.change(-5000, on: a)
        withExtendedLifetime((slow, stalled)) {}
    }

    /// A stream whose pump failed (the client gone) or never ran lets go of its bytes, and
    /// what is sent to it afterwards is not charged.
    @Test func aStreamLetsGoWhenItsPumpEndsOrItGoes() async throws {
        let budget = SharedByteBudget.unsent(capacity: 1 << 20, metrics: nil)
        let channel = try await connected(NIOAsyncTestingEventLoop())
        do {
            let unpumped = SSEStream(capacity: 8192, metrics: nil)
            unpumped.charge(to: budget, on: channel)
            #expect(unpumped.send(event: "message", data: "never written"))
            #expect(budget.total > 0)
        }
        #expect(budget.total == 0, "released when the stream goes")
        let stream = SSEStream(capacity: 8192, metrics: nil)
        stream.charge(to: budget, on: channel)
        #expect(stream.send(event: "message", data: "to a client gone"))
        var writer: any ResponseBodyWriter = FailingWriter()
        await #expect(throws: FailingWriter.Gone.self) { try await stream.pump(into: &writer) }
        #expect(budget.total == 0)
        #expect(stream.send(event: "message", data: "after the pump"))
        #expect(budget.total == 0)
    }
}

/// A client that went away: every write fails.
struct FailingWriter: ResponseBodyWriter {
    struct Gone: Error {}
    mutating func write(_ buffer: ByteBuffer) async throws { throw Gone() }
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// Holds each write until ``allow()`` lets one more through.
struct SteppedWriter: ResponseBodyWriter {
    let text = CollectingWriter.Text()
    private let permits: AsyncStream<Void>
    private let permitter: AsyncStream<Void>.Continuation

    init() { (permits, permitter) = AsyncStream<Void>.makeStream() }

    func allow() { permitter.yield() }

    mutating func write(_ buffer: ByteBuffer) async throws {
        for await _ in permits { break }
        text.append(String(buffer: buffer))
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
