import Dispatch
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing
@testable import MCPServerKit

/// The shared keep-alive ticker (issue 4 "SSE done right": keep-alive pings at a configured
/// interval). Real dispatch timers at 10-20 ms; every wait is bounded.
@Suite struct SSEKeepAliveTests {
    /// Polls `condition` every 5 ms for at most `seconds`.
    private func eventually(within seconds: Double = 5, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return condition()
    }

    @Test("every member is pinged repeatedly by one ticker per interval")
    func membersArePinged() async {
        let keepAlive = SSEKeepAlive(queue: DispatchQueue(label: "test.keepalive"))
        let counts = Mutex([0, 0, 0])
        let members = (0..<3).map { index in
            keepAlive.join(interval: .milliseconds(10)) {
                counts.withLock { $0[index] += 1 }
                return true
            }
        }
        #expect(keepAlive.tickerCount == 1)
        #expect(keepAlive.memberCount(interval: .milliseconds(10)) == 3)
        #expect(await eventually { counts.withLock { $0.allSatisfy { $0 >= 3 } } })
        for member in members { keepAlive.leave(member) }
        #expect(keepAlive.tickerCount == 0)
    }

    @Test("a member that leaves is not pinged again; the last one out stops the timer")
    func leaveStopsPings() async {
        let keepAlive = SSEKeepAlive(queue: DispatchQueue(label: "test.keepalive"))
        let count = Mutex(0)
        let member = keepAlive.join(interval: .milliseconds(10)) {
            count.withLock { $0 += 1 }
            return true
        }
        #expect(await eventually { count.withLock { $0 } >= 1 })
        keepAlive.leave(member)
        keepAlive.leave(member) // twice is harmless
        #expect(keepAlive.tickerCount == 0)
        // A tick already dispatched may still run once; after that, silence.
        try? await Task.sleep(for: .milliseconds(30))
        let settled = count.withLock { $0 }
        try? await Task.sleep(for: .milliseconds(60))
        #expect(count.withLock { $0 } == settled)
    }

    @Test("a ping that reports its stream ended is dropped by the ticker itself")
    func endedStreamIsDropped() async {
        let keepAlive = SSEKeepAlive(queue: DispatchQueue(label: "test.keepalive"))
        let count = Mutex(0)
        _ = keepAlive.join(interval: .milliseconds(10)) {
            count.withLock { $0 += 1 }
            return false
        }
        #expect(await eventually { keepAlive.tickerCount == 0 })
        #expect(count.withLock { $0 } == 1)
    }

    @Test("different intervals get different tickers; sub-10 ms intervals are raised to 10 ms")
    func intervals() {
        let keepAlive = SSEKeepAlive(queue: DispatchQueue(label: "test.keepalive"))
        let a = keepAlive.join(interval: .milliseconds(10)) { true }
        let b = keepAlive.join(interval: .milliseconds(1)) { true }
        let c = keepAlive.join(interval: .seconds(30)) { true }
        #expect(keepAlive.tickerCount == 2)
        #expect(keepAlive.memberCount(interval: .milliseconds(10)) == 2)
        for member in [a, b, c] { keepAlive.leave(member) }
        #expect(keepAlive.tickerCount == 0)
    }

    @Test("an SSE stream gets `: ping` comments from the ticker until it ends")
    func streamPings() async {
        let keepAlive = SSEKeepAlive(queue: DispatchQueue(label: "test.keepalive"))
        let stream = SSEStream(capacity: 1 << 16, metrics: nil)
        _ = keepAlive.join(interval: .milliseconds(10)) { stream.sendComment("ping") }
        let reader = Task {
            var writer: any ResponseBodyWriter = CollectingWriter()
            _ = try? await stream.pump(into: &writer)
            return (writer as! CollectingWriter).text.value
        }
        try? await Task.sleep(for: .milliseconds(60))
        stream.finish()
        let text = await reader.value
        #expect(text.hasPrefix(": ping\n\n"))
        #expect(await eventually { keepAlive.tickerCount == 0 })
    }
}

/// Collects what a response body writes, as text.
struct CollectingWriter: ResponseBodyWriter {
    final class Text: Sendable {
        private let storage = Mutex("")
        var value: String { storage.withLock { $0 } }
        func append(_ text: String) { storage.withLock { $0 += text } }
    }
    let text = Text()

    mutating func write(_ buffer: ByteBuffer) async throws {
        text.append(String(buffer: buffer))
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
