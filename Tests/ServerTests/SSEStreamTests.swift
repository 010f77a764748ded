import Hummingbird
import NIOCore
import Synchronization
import Testing

@testable import MCPServerKit

/// The stream's bounded queue: an event always fits an empty queue; a reader that does not
/// take what is queued is cut off once the next event would pass the capacity.
@Suite struct SSEStreamTests {
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

    @Test("a reader that leaves events queued is cut off when the next one would pass the capacity")
    func overflowWhenQueued() {
        let stream = SSEStream(capacity: 1024, metrics: nil)
        let overflowed = Mutex(0)
        stream.onOverflow { overflowed.withLock { $0 += 1 } }
        #expect(stream.send(event: "message", data: String(repeating: "a", count: 600)))
        #expect(!stream.send(event: "message", data: String(repeating: "b", count: 600)))
        #expect(stream.end == .overflow)
        #expect(!stream.sendComment("ping"))
        #expect(overflowed.withLock { $0 } == 1)
    }

    @Test("a first event larger than the capacity does not overflow, the next one does while it is queued")
    func largeThenAnother() {
        let stream = SSEStream(capacity: 1024, metrics: nil)
        #expect(stream.send(event: "message", data: String(repeating: "x", count: 4096)))
        #expect(stream.end == nil)
        #expect(!stream.sendComment("ping"))
        #expect(stream.end == .overflow)
    }

    /// A large event being written to a reader that keeps up is no longer queued: a ping sent
    /// meanwhile is queued behind it. Counted until written, it made the ping pass the
    /// capacity and the stream was cut in the middle of the answer.
    @Test func anEventBeingWrittenIsNotQueued() async throws {
        let stream = SSEStream(capacity: 1024, metrics: nil)
        let big = String(repeating: "x", count: 4096)
        #expect(stream.send(event: "message", data: big))
        let writer = GatedWriter()
        let pump = Task {
            var any: any ResponseBodyWriter = writer
            return try await stream.pump(into: &any)
        }
        await writer.entered.first { _ in true }
        #expect(stream.sendComment("ping"), "queued behind the event in flight")
        #expect(stream.end == nil)
        // A stalled reader still holds one large event at most: a second one, while the
        // first (over the capacity) is being written, overflows as it always did.
        #expect(!stream.send(event: "message", data: big))
        #expect(stream.end == .overflow)
        stream.finish()
        writer.release()
        #expect(try await pump.value == .overflow)
        #expect(writer.text.value.hasPrefix("event: message\ndata: \(big)\n\n"))
    }

    /// A large event while a small one is being written still fits the empty queue: only an
    /// event over the capacity in flight takes that away.
    @Test func aLargeEventBehindASmallOneInFlightFits() async throws {
        let stream = SSEStream(capacity: 1024, metrics: nil)
        #expect(stream.sendComment("ping"))
        let writer = GatedWriter()
        let pump = Task {
            var any: any ResponseBodyWriter = writer
            return try await stream.pump(into: &any)
        }
        await writer.entered.first { _ in true }
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
