import Hummingbird
import NIOCore
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
