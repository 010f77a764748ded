import Synchronization
import Testing
@testable import MCPCore

/// Tool calls of a one-request session (``MCPSession/callsInline``) run in the request's own
/// task; their deadline and a closed connection cancel that task, and nothing cancels it
/// once the call is over.
@Suite struct InlineCallTests {
    static func session() -> MCPSession {
        MCPSession(transport: "test", requiresInitialize: false, maxInFlight: 1, callsInline: true)
    }

    /// The identity of the task running the code that calls this.
    static func currentTask() -> Int? { withUnsafeCurrentTask { $0?.hashValue } }

    @Test("the handler runs in the calling task itself, not a task of its own")
    func runsInCallingTask() async {
        let seen = Mutex<Int?>(nil)
        let probe = ToolDefinition(name: "probe", description: "probe", annotations: .readOnly) { _, _ in
            seen.withLock { $0 = InlineCallTests.currentTask() }
            return .text("ok")
        }
        let inline = Harness(tools: [probe], session: Self.session())
        let caller = Self.currentTask()
        _ = await inline.request("tools/call", params: ["name": "probe"])
        #expect(seen.withLock { $0 } == caller)

        // The session of a sessionful transport keeps a task per call.
        let tasked = Harness(tools: [probe], session: MCPSession(transport: "test", requiresInitialize: false))
        _ = await tasked.request("tools/call", params: ["name": "probe"])
        #expect(seen.withLock { $0 } != caller)
    }

    @Test("its deadline cancels the call, which is answered as a timeout")
    func timeout() async {
        let slow = ToolDefinition(name: "slow", description: "slow", annotations: .readOnly, timeout: .milliseconds(50)) { _, _ in
            try await Task.sleep(for: .seconds(30))
            return .text("late")
        }
        let h = Harness(tools: [slow], session: Self.session())
        // In a task of its own: the deadline cancels the task the call runs in.
        let response = await Task { await h.request("tools/call", params: ["name": "slow"]) }.value
        #expect(response?["result"]?["isError"] == true)
        #expect(response?["result"]?["content"]?[0]?["text"]?.stringValue?.contains("timed out") == true)
        #expect(h.session.inFlightCount == 0)
    }

    @Test("a closed connection (cancelAll) cancels the running call and nothing is answered")
    func cancelAll() async {
        let started = AsyncStream<Void>.makeStream()
        let slow = ToolDefinition(name: "slow", description: "slow", annotations: .readOnly) { _, _ in
            started.continuation.yield()
            try await Task.sleep(for: .seconds(30))
            return .text("late")
        }
        let h = Harness(tools: [slow], session: Self.session())
        let call = Task { await h.request("tools/call", id: 3, params: ["name": "slow"]) }
        var iterator = started.stream.makeAsyncIterator()
        await iterator.next()
        h.session.cancelAll()
        #expect(await call.value == nil)
    }

    @Test("once a call is over, its deadline and a late cancelAll leave the task alone")
    func nothingCancelsAfterTheCall() async {
        let h = Harness(tools: [Harness.named("quick")], session: Self.session(), timeout: .milliseconds(30))
        let cancelled = await Task {
            _ = await h.request("tools/call", params: ["name": "quick"])
            h.session.cancelAll()
            try? await Task.sleep(for: .milliseconds(100))  // past the call's deadline
            return Task.isCancelled
        }.value
        #expect(!cancelled)
    }

    @Test("an inline call's control cancels its task while the call runs, and nothing after finish()", arguments: [false, true])
    func canceller(finishedFirst: Bool) async {
        let cancelled = await Task {
            let control = CallControl.inline()
            if finishedFirst { control.finish() }
            control.cancel()
            control.finish()
            return Task.isCancelled
        }.value
        #expect(cancelled == !finishedFirst)
    }

    @Test("the deadline cancels like the client, and is told apart from it")
    func deadlineIsToldApart() async {
        let (byClient, byDeadline) = await Task {
            let control = CallControl.inline()
            control.cancel()
            let byClient = (Task.isCancelled, control.deadlineFired)
            control.deadlineReached()
            return (byClient, control.deadlineFired)
        }.value
        #expect(byClient == (true, false))
        #expect(byDeadline)
    }
}
