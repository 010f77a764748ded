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
}
