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
    /// With `meta`, both calls carry it (a stateless-era request names its version there).
    static func refused(session: MCPSession, first: Int64, second: Int64, meta: JSONValue? = nil) async -> (response: JSONValue?, entries: Int, harness: Harness) {
        let counter = Counter()
        let h = Harness(tools: [counter.tool], session: session)
        var params: JSONObject = ["name": "write"]
        if let meta { params["_meta"] = meta } else { await h.initialize() }
        let running = Task { [params] in await h.request("tools/call", id: first, params: .object(params)) }
        var iterator = counter.started.stream.makeAsyncIterator()
        await iterator.next()
        let response = await h.request("tools/call", id: second, params: .object(params))
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

    /// 2026-07-28 basic/index.mdx "Error Codes": -32000…-32019 is legacy, which "new
    /// implementations SHOULD NOT use"; a stateless-era refusal carries its status instead.
    @Test("over the in-flight cap, a stateless-era call is refused with 429, not the legacy -32000")
    func overTheCapInTheStatelessEra() async {
        let session = MCPSession(transport: "test", requiresInitialize: false, maxInFlight: 1)
        let (response, entries, _) = await Self.refused(session: session, first: 1, second: 2, meta: statelessMeta)
        #expect(response?.errorCode == 429)
        #expect(entries == 1)
    }

    /// `limits.max_inflight_request_bytes`: a call is charged with its parsed request (its
    /// `_meta` and all, held while it runs), and given the same back when it ends.
    @Test func aCallIsChargedWithItsRequest() async {
        let recorded = Recorded()
        let dispatcher = MCPDispatcher(configuration: .init(identity: ServerIdentity(name: "t", version: "1")),
                                       registry: ToolRegistry([Harness.echo]), admission: recorded)
        var params: JSONObject = ["name": "echo", "arguments": ["message": "hi"]]
        guard case .object(var meta) = statelessMeta else {
            Issue.record("statelessMeta is not an object")
            return
        }
        meta["pad"] = .string(String(repeating: "x", count: 10_000))
        params["_meta"] = .object(meta)
        let request: JSONValue = ["jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": .object(params)]
        let stateless = MCPSession(transport: "test", requiresInitialize: false)
        let bytes = await dispatcher.handle(bytes: Array(request.serializedString().utf8), session: stateless, outbound: RecordingOutbound())
        #expect((try? JSONParser.parse(bytes ?? []))?["result"] != nil)
        let charges = recorded.charges.withLock { $0 }
        #expect(charges.admitted == [JSONValue.heldBytes(of: params)])
        #expect(charges.admitted.first ?? 0 > 10_000)
        #expect(charges.released == charges.admitted)
    }

    /// In a batch every message is held until the last is answered: a call in one is charged
    /// with the whole batch (a small call first, the junk in the messages after it, was charged
    /// a few hundred bytes while the batch held megabytes).
    @Test func aCallInABatchIsChargedWithTheBatch() async {
        let recorded = Recorded()
        let dispatcher = MCPDispatcher(configuration: .init(identity: ServerIdentity(name: "t", version: "1")),
                                       registry: ToolRegistry([Harness.echo]), admission: recorded)
        func call(_ id: JSONValue) -> JSONValue {
            ["jsonrpc": "2.0", "id": id, "method": "tools/call", "params": ["name": "echo", "arguments": ["message": "hi"]]]
        }
        let junk: JSONValue = ["jsonrpc": "2.0", "method": "notifications/junk", "params": ["pad": .string(String(repeating: "x", count: 10_000))]]
        let batch = JSONValue.array([call(1), junk, call(2)])
        let session = MCPSession(transport: "test", requiresInitialize: false)
        let bytes = await dispatcher.handle(bytes: Array(batch.serializedString().utf8), session: session, outbound: RecordingOutbound())
        #expect((try? JSONParser.parse(bytes ?? []))?.arrayValue?.count == 2)
        let charges = recorded.charges.withLock { $0 }
        #expect(charges.admitted.count == 2)
        #expect(charges.admitted.allSatisfy { $0 > 10_000 }, "\(charges.admitted)")
        #expect(charges.released == charges.admitted)
    }

    /// Records what each call is charged with.
    final class Recorded: CallAdmission {
        let charges = Mutex<(admitted: [Int], released: [Int])>(([], []))
        func admit(caller: String?, tool: String, requestBytes: Int) -> CallAdmissionDecision {
            charges.withLock { $0.admitted.append(requestBytes) }
            return .admitted
        }
        func release(caller: String?, requestBytes: Int) {
            charges.withLock { $0.released.append(requestBytes) }
        }
    }

    /// Refuses every call as the server at its global cap would.
    struct Overloaded: CallAdmission {
        func admit(caller: String?, tool: String, requestBytes: Int) -> CallAdmissionDecision {
            .refused(message: "Server at its limit of tool calls; retry later", httpStatus: 503, retryAfterSeconds: 5)
        }
        func release(caller: String?, requestBytes: Int) {}
    }

    @Test("a call refused by admission carries -32000 in the session era and its status (503) in the stateless era")
    func admissionRefusalByEra() async {
        let stateless = MCPSession(transport: "test", requiresInitialize: false)
        let dispatcher = MCPDispatcher(configuration: .init(identity: ServerIdentity(name: "t", version: "1")),
                                       registry: ToolRegistry([Harness.echo]), admission: Overloaded())
        var params: JSONObject = ["name": "echo", "arguments": ["message": "hi"]]
        params["_meta"] = statelessMeta
        let request: JSONValue = ["jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": .object(params)]
        let bytes = await dispatcher.handle(bytes: Array(request.serializedString().utf8), session: stateless, outbound: RecordingOutbound())
        let answer = try? JSONParser.parse(bytes ?? [])
        #expect(answer?.errorCode == 503)
        #expect(answer?["error"]?["data"]?["httpStatus"] == 503)

        let h = Harness()
        let sessionEra = MCPDispatcher(configuration: .init(identity: ServerIdentity(name: "t", version: "1")),
                                       registry: ToolRegistry([Harness.echo]), admission: Overloaded())
        await h.initialize()
        let call: JSONValue = ["jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": ["name": "echo", "arguments": ["message": "hi"]]]
        let old = await sessionEra.handle(bytes: Array(call.serializedString().utf8), session: h.session, outbound: RecordingOutbound())
        #expect((try? JSONParser.parse(old ?? []))?.errorCode == -32000)
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
