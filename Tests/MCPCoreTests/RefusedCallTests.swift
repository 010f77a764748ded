import Synchronization
import Testing
@testable import MCPCore

/// A `tools/call` refused for its id or for the session's in-flight cap is answered as never
/// having run, so its tool must not have run: a writing tool would otherwise act while the
/// client is told it did not (2025-11-25 basic/index.mdx "Requests": a request id MUST NOT
/// have been used before by the requestor in the same session; JSON-RPC 2.0 §5.1 -32600).
@Suite struct RefusedCallTests {
    /// Counts its entries synchronously, before any suspension point (where a cancelled task
    /// would still get to), then waits until cancelled.
    final class Counter: Sendable {
        let entries = Mutex(0)
        let started = AsyncStream<Void>.makeStream()

        var tool: ToolDefinition {
            ToolDefinition(name: "write", description: "writes", annotations: .write) { _, _ in
                self.entries.withLock { $0 += 1 }
                self.started.continuation.yield()
                try await Task.sleep(for: .seconds(30))
                return .text("done")
            }
        }

        var count: Int { entries.withLock { $0 } }
    }

    /// Starts call `first` and waits until its tool is running; sends `second`, returns its answer.
    static func refused(session: MCPSession, first: Int64, second: Int64) async -> (response: JSONValue?, entries: Int, harness: Harness) {
        let counter = Counter()
        let h = Harness(tools: [counter.tool], session: session)
        await h.initialize()
        let running = Task { await h.request("tools/call", id: first, params: ["name": "write"]) }
        var iterator = counter.started.stream.makeAsyncIterator()
        await iterator.next()
        let response = await h.request("tools/call", id: second, params: ["name": "write"])
        // A task that was started and then cancelled still runs until its first check:
        // give one that should never have existed the time to show itself.
        try? await Task.sleep(for: .milliseconds(200))
        let entries = counter.count
        h.session.cancel(.int(first))
        _ = await running.value
        return (response, entries, h)
    }

    @Test("a call with an id already in flight is refused (-32600) and its tool never runs")
    func duplicateIDNeverRuns() async {
        let (response, entries, h) = await Self.refused(session: MCPSession(transport: "test"), first: 5, second: 5)
        #expect(response?.errorCode == -32600)
        #expect(entries == 1)
        #expect(h.session.inFlightCount == 0)
        #expect(h.observer.refused.isEmpty)
    }

    @Test("a call over the session's in-flight cap is refused (-32000) and its tool never runs")
    func overTheCapNeverRuns() async {
        let (response, entries, h) = await Self.refused(session: MCPSession(transport: "test", maxInFlight: 1), first: 1, second: 2)
        #expect(response?.errorCode == -32000)
        #expect(entries == 1)
        #expect(h.session.inFlightCount == 0)
    }

    @Test("a call whose request task is already cancelled (its connection closed) never starts its tool")
    func requestCancelledBeforeStartNeverRuns() async {
        let counter = Counter()
        let h = Harness(tools: [counter.tool])
        await h.initialize()
        let response = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await h.request("tools/call", id: 3, params: ["name": "write"])
        }.value
        try? await Task.sleep(for: .milliseconds(100))
        #expect(counter.count == 0)
        #expect(h.session.inFlightCount == 0)
        _ = response
    }

    @Test("a call cancelled before its task was made (client, deadline, closed transport) never starts")
    func cancelBeforeStart() async {
        for cancel in [{ (control: CallControl) in control.cancel() }, { $0.deadlineReached() }] {
            let control = CallControl.ownTask()
            cancel(control)
            #expect(control.start { (ToolResult.text("ran"), .ok) } == nil)
        }
    }
}
