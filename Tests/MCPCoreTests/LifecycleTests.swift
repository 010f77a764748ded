import Synchronization
import Testing
@testable import MCPCore

/// The MCP lifecycle and methods, each test citing the clause it checks.
@Suite struct LifecycleTests {
    @Test("2025-11-25 lifecycle.mdx Version Negotiation: a supported version is echoed", arguments: ProtocolVersion.sessionEra)
    func negotiateSupported(version: String) async {
        let h = Harness()
        let response = await h.request("initialize", params: ["protocolVersion": .string(version), "capabilities": [:], "clientInfo": ["name": "c", "version": "1"]])
        #expect(response?["result"]?["protocolVersion"] == .string(version))
        #expect(response?["result"]?["serverInfo"]?["name"] == "test-server")
        #expect(response?["result"]?["capabilities"]?["tools"] != nil)
    }

    /// A session kept the client's whole `clientInfo` (up to `server.max_body`, 4 MiB, in up
    /// to 100,000 values) for its life, 128 sessions per token; it keeps the name and version,
    /// each cut within 256 bytes at a scalar boundary, and nothing else.
    @Test("a session keeps only clientInfo's name and version, each within 256 bytes")
    func clientInfoIsKeptSmall() async {
        let h = Harness()
        let long = String(repeating: "é", count: 200_000) // 2 bytes each
        let extra: JSONValue = .array(Array(repeating: .int(1), count: 50_000))
        let response = await h.request("initialize", params: ["protocolVersion": "2025-11-25", "capabilities": [:],
                                                            "clientInfo": ["name": .string(long), "version": "1.2", "extra": extra]])
        #expect(response?["result"] != nil)
        let kept = h.session.clientInfo
        // Lengths, not the strings: a failure would print 400 kB.
        let name = kept?["name"]?.stringValue ?? ""
        #expect(name.utf8.count == 256 && name.unicodeScalars.allSatisfy { $0 == "é" })
        #expect(kept?["version"] == "1.2")
        #expect(kept?.objectValue?.count == 2)
        #expect(MCPSession.retained(["version": 3]) == nil, "neither a string name nor version: nothing kept")
        #expect(MCPSession.retained(["name": .string(String(repeating: "a", count: 255) + "é")])?["name"]?.stringValue?.utf8.count == 255,
                "a scalar that would pass the bound is left out whole")
    }

    @Test("lifecycle.mdx: an unsupported version is answered with the latest the server supports")
    func negotiateUnsupported() async {
        let response = await Harness().request("initialize", params: ["protocolVersion": "1999-01-01", "capabilities": [:]])
        #expect(response?["result"]?["protocolVersion"] == "2025-11-25")
    }

    /// lifecycle.mdx "Version Negotiation": the server answers the client's version if it
    /// supports it, else another it supports, which SHOULD be its latest. With
    /// `server.protocol_version` 2025-06-18 the server supports nothing newer.
    @Test("lifecycle.mdx: the configured newest revision caps negotiation",
          arguments: [("2025-11-25", "2025-06-18"), ("2025-06-18", "2025-06-18"), ("2025-03-26", "2025-03-26"),
                      ("2024-11-05", "2024-11-05"), ("1999-01-01", "2025-06-18"), ("2099-01-01", "2025-06-18")])
    func negotiateUpToTheConfiguredNewest(requested: String, answered: String) async {
        let dispatcher = MCPDispatcher(
            configuration: .init(identity: ServerIdentity(name: "t", version: "1"), newestSessionVersion: "2025-06-18"),
            registry: ToolRegistry([]))
        let session = MCPSession(transport: "test")
        let request = JSONRPCRequest(id: .int(1), method: "initialize", params: ["protocolVersion": .string(requested), "capabilities": [:]])
        let response = await dispatcher.handle(request: request, session: session, outbound: RecordingOutbound())
        #expect(response?["result"]?["protocolVersion"] == .string(answered))
        #expect(session.negotiatedVersion == answered)
    }

    /// 2026-07-28 server/discover.mdx: `supportedVersions` lists what the server supports,
    /// so not the session-era revisions above the configured newest.
    @Test("server/discover lists the stateless era and the session era up to the configured newest")
    func discoverListsOffered() async {
        let dispatcher = MCPDispatcher(
            configuration: .init(identity: ServerIdentity(name: "t", version: "1"), newestSessionVersion: "2025-03-26"),
            registry: ToolRegistry([]))
        let request = JSONRPCRequest(id: .int(1), method: "server/discover")
        let response = await dispatcher.handle(request: request, session: MCPSession(transport: "test"), outbound: RecordingOutbound())
        #expect(response?["result"]?["supportedVersions"] == ["2026-07-28", "2025-03-26", "2024-11-05"])
    }

    @Test("initialize without protocolVersion is invalid params")
    func initializeMissingVersion() async {
        #expect(await Harness().request("initialize", params: ["capabilities": [:]])?.errorCode == -32602)
    }

    @Test("lifecycle.mdx: a second initialize is refused")
    func doubleInitialize() async {
        let h = Harness()
        await h.initialize()
        #expect(await h.request("initialize", params: ["protocolVersion": "2025-11-25", "capabilities": [:]])?.errorCode == -32600)
    }

    @Test("lifecycle.mdx: only ping (and discover) before initialize; other requests refused")
    func beforeInitialize() async {
        let h = Harness()
        #expect(await h.request("ping")?["result"] == [:])
        #expect(await h.request("tools/list")?.errorCode == -32600)
        await h.initialize()
        #expect(await h.request("tools/list")?["result"] != nil)
    }

    @Test("the Go server's API needs no handshake")
    func lenientSession() async {
        let h = Harness(session: MCPSession(transport: "http_api", requiresInitialize: false))
        #expect(await h.request("tools/list")?["result"]?["tools"]?.arrayValue?.count == 1)
    }

    @Test("2026-07-28 server/discover.mdx: answered at once, lists versions, identity in _meta")
    func discover() async {
        let h = Harness()
        let response = await h.request("server/discover", params: ["_meta": statelessMeta])
        let result = response?["result"]
        #expect(result?["supportedVersions"]?.arrayValue?.contains("2026-07-28") == true)
        #expect(result?["supportedVersions"]?.arrayValue?.contains("2025-11-25") == true)
        #expect(result?["resultType"] == "complete")
        #expect(result?["_meta"]?[ProtocolVersion.serverInfoKey]?["name"] == "test-server")
        #expect(result?["ttlMs"]?.intValue != nil)
    }

    @Test("2026-07-28 basic/index.mdx \"Per-request protocol fields\": a request without the protocol version or the client's capabilities in _meta is refused with -32602")
    func statelessRequiredFields() async {
        let h = Harness()
        let capabilitiesOnly: JSONValue = [.init(stringLiteral: ProtocolVersion.clientCapabilitiesKey): [:]]
        let notAnObject: JSONValue = [.init(stringLiteral: ProtocolVersion.metaKey): "2026-07-28", .init(stringLiteral: ProtocolVersion.clientCapabilitiesKey): "all"]
        for meta: JSONValue in [[.init(stringLiteral: ProtocolVersion.metaKey): "2026-07-28"], notAnObject] {
            let response = await h.request("tools/list", params: ["_meta": meta])
            #expect(response?.errorCode == -32602)
            #expect(response?["error"]?["message"]?.stringValue?.contains(ProtocolVersion.clientCapabilitiesKey) == true)
        }
        // Without the version it is no stateless request: the session era's rules answer.
        #expect(await h.request("tools/list", params: ["_meta": capabilitiesOnly])?.errorCode == -32600)
        #expect(await h.request("tools/list", params: ["_meta": statelessMeta])?["result"]?["resultType"] == "complete")
    }

    /// seed-interface.md: the Go API answered resources/list and resources/read; its clients
    /// call them. No resources here: an empty list, and resources.mdx's -32002 for a read.
    @Test("resources/list is empty and resources/read is -32002 Resource not found (the Go API's methods)")
    func resourcesOfTheGoAPI() async {
        let h = Harness(session: MCPSession(transport: "api", requiresInitialize: false))
        #expect(await h.request("resources/list")?["result"] == ["resources": []])
        #expect(await h.request("resources/templates/list")?["result"] == ["resourceTemplates": []])
        let read = await h.request("resources/read", params: ["uri": "file:///etc/passwd"])
        #expect(read?.errorCode == -32002)
        #expect(read?["error"]?["data"]?["uri"] == "file:///etc/passwd")
        #expect(await h.request("resources/read", params: [:])?.errorCode == -32602)
    }

    @Test("a session-era version in _meta leaves a request in the session era (not -32022)")
    func sessionEraVersionInMeta() async {
        let h = Harness()
        await h.initialize()
        let meta: JSONValue = [.init(stringLiteral: ProtocolVersion.metaKey): "2025-11-25"]
        let response = await h.request("tools/list", params: ["_meta": meta])
        #expect(response?["result"]?["tools"]?.arrayValue?.isEmpty == false)
        #expect(response?["result"]?["resultType"] == nil)
        // Before initialize, it is still a session-era request: initialize comes first.
        #expect(await Harness().request("tools/list", params: ["_meta": meta])?.errorCode == -32600)
    }

    @Test("2026-07-28 changelog item 5: ping and logging/setLevel are not methods of a stateless request")
    func statelessRemovedMethods() async {
        let h = Harness()
        #expect(await h.request("ping", params: ["_meta": statelessMeta])?.errorCode == -32601)
        #expect(await h.request("logging/setLevel", params: ["level": "debug", "_meta": statelessMeta])?.errorCode == -32601)
        #expect(h.session.logLevel == nil)
        #expect(await h.request("ping")?["result"] == [:])  // the session era keeps ping
    }

    @Test("2026-07-28 versioning.mdx: unknown version in _meta -> -32022 with requested and supported")
    func unsupportedStatelessVersion() async {
        let response = await Harness().request("tools/list", params: ["_meta": [.init(stringLiteral: ProtocolVersion.metaKey): "2099-01-01"]])
        #expect(response?.errorCode == -32022)
        #expect(response?["error"]?["data"]?["requested"] == "2099-01-01")
        #expect(response?["error"]?["data"]?["supported"]?.arrayValue?.isEmpty == false)
    }

    /// 2026-07-28 basic/index.mdx "Per-request protocol fields": the version is a string
    /// (schema.json), and a malformed request MUST get -32602; -32022's `data.requested` is a
    /// string too, so a number is not an "unsupported version".
    @Test("a protocol version in _meta that is not a string is -32602, not -32022")
    func nonStringStatelessVersion() async {
        let meta: JSONValue = [.init(stringLiteral: ProtocolVersion.metaKey): 20260728,
                               .init(stringLiteral: ProtocolVersion.clientCapabilitiesKey): [:]]
        #expect(await Harness().request("tools/list", params: ["_meta": meta])?.errorCode == -32602)
        #expect(ProtocolVersion.missingRequestFields(meta)?.contains("must be a string") == true)
    }

    /// 2026-07-28 server/utilities/logging.mdx "Error Handling": an unrecognized
    /// `io.modelcontextprotocol/logLevel` SHOULD be rejected with -32602; it was dropped and
    /// the request served as if it had asked for no logs.
    @Test func anUnknownLogLevelInMetaIsRefused() async {
        for level: JSONValue in ["verbose", 3, "DEBUG"] {
            var meta = statelessMeta.objectValue!
            meta[ProtocolVersion.logLevelKey] = level
            let response = await Harness().request("tools/list", params: ["_meta": .object(meta)])
            #expect(response?.errorCode == -32602, "\(level)")
            #expect(response?["error"]?["message"]?.stringValue?.hasPrefix("Invalid log level") == true)
        }
        var meta = statelessMeta.objectValue!
        meta[ProtocolVersion.logLevelKey] = "debug"
        #expect(await Harness().request("tools/list", params: ["_meta": .object(meta)])?["result"] != nil)
    }

    @Test("2026-07-28 changelog §2, §8: stateless requests need no initialize; results carry resultType, ttlMs, cacheScope")
    func statelessToolsList() async {
        let h = Harness()
        let response = await h.request("tools/list", params: ["_meta": statelessMeta])
        #expect(response?["result"]?["resultType"] == "complete")
        #expect(response?["result"]?["cacheScope"] == "private")
        #expect(response?["result"]?["ttlMs"]?.intValue != nil)
    }

    /// 2026-07-28 streamable-http.mdx "Protocol Version Header": the transport reads the
    /// version from its header and hands it over in the request's session, so a body without
    /// `_meta` is still a stateless request, and an unsupported header version still -32022.
    @Test("a version the session carries from the header makes a request stateless, as _meta does")
    func statelessVersionFromTheSession() async {
        let stateless = Harness(session: MCPSession(transport: "test", requestVersion: "2026-07-28"))
        let response = await stateless.request("tools/list", params: ["_meta": statelessMeta])
        #expect(response?["result"]?["resultType"] == "complete")
        #expect(response?["result"]?["tools"]?.arrayValue?.isEmpty == false)
        // Stateless, so its `_meta` must carry the per-request fields (not -32600 for want of initialize).
        #expect(await stateless.request("tools/list", params: [:])?.errorCode == -32602)

        let unsupported = await Harness(session: MCPSession(transport: "test", requestVersion: "2099-01-01")).request("tools/list", params: [:])
        #expect(unsupported?.errorCode == -32022)
        #expect(unsupported?["error"]?["data"]?["requested"] == "2099-01-01")

        // Without either, the session-era rules hold: initialize comes first.
        #expect(await Harness().request("tools/list", params: [:])?.errorCode == -32600)
    }

    @Test("logging.mdx: logging/setLevel accepts RFC 5424 levels and refuses others")
    func setLevel() async {
        let h = Harness()
        await h.initialize()
        #expect(await h.request("logging/setLevel", params: ["level": "warning"])?["result"] == [:])
        #expect(h.session.logLevel == .warning)
        #expect(await h.request("logging/setLevel", params: ["level": "loud"])?.errorCode == -32602)
    }
}

@Suite struct ToolsTests {
    @Test("pagination.mdx: pages follow nextCursor to the end, in a stable order")
    func pagination() async {
        let h = Harness(tools: (0..<5).map { Harness.named("t\($0)") }, pageSize: 2)
        await h.initialize()
        var names: [String] = []
        var cursor: JSONValue? = nil
        for _ in 0..<10 {
            let params: JSONValue = cursor.map { ["cursor": $0] } ?? [:]
            let result = await h.request("tools/list", params: params)?["result"]
            names += result?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            cursor = result?["nextCursor"]
            if cursor == nil { break }
        }
        #expect(names == ["t0", "t1", "t2", "t3", "t4"])
    }

    @Test("pagination.mdx: an invalid cursor is -32602", arguments: ["garbage!", "", "dG9vbHM6OTk5", "dG9vbHM6MA"])
    func invalidCursor(cursor: String) async {
        let h = Harness(tools: (0..<5).map { Harness.named("t\($0)") }, pageSize: 2)
        await h.initialize()
        #expect(await h.request("tools/list", params: ["cursor": .string(cursor)])?.errorCode == -32602)
    }

    @Test("read-only callers do not see or call writing tools")
    func readOnlyPrincipal() async {
        let session = MCPSession(transport: "test", principal: .init(name: "ro", allowsWrites: false))
        let h = Harness(tools: [Harness.named("reader"), Harness.named("writer", writes: true)], session: session)
        await h.initialize()
        let names = await h.request("tools/list")?["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["reader"])
        #expect(await h.request("tools/call", params: ["name": "writer"])?.errorCode == -32602)
    }

    @Test("tools.mdx Error Handling: unknown tool is a protocol error -32602")
    func unknownTool() async {
        let h = Harness()
        await h.initialize()
        #expect(await h.request("tools/call", params: ["name": "nope"])?.errorCode == -32602)
        #expect(await h.request("tools/call", params: ["arguments": [:]])?.errorCode == -32602)
        #expect(await h.request("tools/call", params: ["name": "echo", "arguments": "x"])?.errorCode == -32602)
    }

    @Test("tools.mdx Error Handling: invalid arguments are isError results naming the argument",
          arguments: [(JSONValue.object([:]), "message"), ((["message": 5] as JSONValue), "message"), ((["message": "x", "extra": 1] as JSONValue), "extra"), ((["message": "x", "times": 0] as JSONValue), "times")] as [(JSONValue, String)])
    func invalidArguments(arguments: JSONValue, named: String) async {
        let h = Harness()
        await h.initialize()
        let result = await h.request("tools/call", params: ["name": "echo", "arguments": arguments])?["result"]
        #expect(result?["isError"] == true)
        #expect(result?["content"]?[0]?["text"]?.stringValue?.contains(named) == true)
    }

    /// RFC 8259 §8.2 allows an unpaired surrogate escape; one in an argument must not turn
    /// the whole message into a parse error with id null (the client could not match it).
    @Test("a tools/call with an unpaired surrogate in an argument is answered with its id")
    func unpairedSurrogateArgument() async {
        let h = Harness()
        await h.initialize()
        let response = await h.send(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x\ud800y"}}}"#)
        #expect(response?["id"] == .int(7))
        #expect(response?["result"]?["content"]?[0]?["text"] == "x\u{FFFD}y")
    }

    @Test("a successful call returns content and isError false")
    func call() async {
        let h = Harness()
        await h.initialize()
        let result = await h.request("tools/call", params: ["name": "echo", "arguments": ["message": "hi"]])?["result"]
        #expect(result?["content"]?[0]?["text"] == "hi")
        #expect(result?["isError"] == false)
    }

    @Test("a tool that throws becomes an isError result, never a JSON-RPC error")
    func throwingTool() async {
        let failing = ToolDefinition(name: "fail", description: "fails", annotations: .readOnly) { _, _ in
            throw ToolError(.backendStatus, "backend answered 503")
        }
        let h = Harness(tools: [failing])
        await h.initialize()
        let response = await h.request("tools/call", params: ["name": "fail"])
        #expect(response?["result"]?["isError"] == true)
        #expect(response?["result"]?["content"]?[0]?["text"] == "backend answered 503")
    }

    @Test("a tool over its deadline becomes an isError timeout result")
    func timeout() async {
        let slow = ToolDefinition(name: "slow", description: "slow", annotations: .readOnly, timeout: .milliseconds(50)) { _, _ in
            try await Task.sleep(for: .seconds(30))
            return .text("late")
        }
        let h = Harness(tools: [slow])
        await h.initialize()
        let response = await h.request("tools/call", params: ["name": "slow"])
        #expect(response?["result"]?["isError"] == true)
        #expect(response?["result"]?["content"]?[0]?["text"]?.stringValue?.contains("timed out") == true)
    }

    /// A handler that answers with what it has for the deadline (a multi-page read) keeps
    /// that answer even when it comes just after the deadline; any other late answer is a
    /// timeout.
    @Test("a partial answer made for the deadline is kept even a little after it; any other late answer is a timeout")
    func partialAnswerAfterTheDeadline() async {
        func tool(_ name: String, limit: ToolLimit?) -> ToolDefinition {
            ToolDefinition(name: name, description: "slow", annotations: .readOnly, timeout: .milliseconds(50)) { _, _ in
                try? await Task.sleep(for: .seconds(30))  // cancelled at the deadline
                var result = ToolResult.text("what was read")
                result.limitReached = limit
                return result
            }
        }
        let h = Harness(tools: [tool("partial", limit: .deadline), tool("plain", limit: nil)])
        await h.initialize()
        let partial = await h.request("tools/call", params: ["name": "partial"])
        #expect(partial?["result"]?["isError"] == false)
        #expect(partial?["result"]?["content"]?[0]?["text"] == "what was read")
        let plain = await h.request("tools/call", params: ["name": "plain"])
        #expect(plain?["result"]?["isError"] == true)
        #expect(plain?["result"]?["content"]?[0]?["text"]?.stringValue?.contains("timed out") == true)
    }

    @Test("cancellation.mdx: notifications/cancelled stops the call and no response is sent")
    func cancellation() async {
        let started = AsyncStream<Void>.makeStream()
        let slow = ToolDefinition(name: "slow", description: "slow", annotations: .readOnly) { _, _ in
            started.continuation.yield()
            try await Task.sleep(for: .seconds(30))
            return .text("late")
        }
        let h = Harness(tools: [slow])
        await h.initialize()
        async let response = h.request("tools/call", id: 42, params: ["name": "slow"])
        var iterator = started.stream.makeAsyncIterator()
        await iterator.next()
        #expect(await h.send(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":42,"reason":"user"}}"#) == nil)
        #expect(await response == nil)
        #expect(h.session.inFlightCount == 0)
    }

    /// stdio reads a request, hands it to a task, and reads the next line at once: a cancel
    /// read before that task tracked the call found nothing, and the call ran and was answered.
    @Test("cancellation.mdx: a cancel for a request announced but not yet tracked stops it before it runs")
    func cancelBeforeTheCallIsTracked() async {
        let ran = Mutex(0)
        let counted = ToolDefinition(name: "counted", description: "counts", annotations: .readOnly) { _, _ in
            ran.withLock { $0 += 1 }
            return .text("ran")
        }
        let h = Harness(tools: [counted])
        await h.initialize()
        h.session.announce([.int(42)])
        _ = await h.send(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":42}}"#)
        #expect(await h.request("tools/call", id: 42, params: ["name": "counted"]) == nil)
        #expect(ran.withLock { $0 } == 0)
        #expect(h.session.inFlightCount == 0)
        h.session.withdraw(.int(42))
        // Announced and withdrawn without a cancel: the next call with another id runs.
        h.session.announce([.int(43)])
        #expect(await h.request("tools/call", id: 43, params: ["name": "counted"]) != nil)
        h.session.withdraw(.int(43))
        #expect(ran.withLock { $0 } == 1)
    }

    /// A cancel for a request that is not a tool call (tools/list, server/discover) reaches
    /// only its announcement: the transport asks at withdraw, before it writes the answer,
    /// and drops the answer (cancellation.mdx: SHOULD NOT send a response).
    @Test("cancellation.mdx: withdraw says whether an announced request was cancelled; a withdrawn id announced again starts clean")
    func withdrawReportsTheCancel() async {
        let h = Harness()
        await h.initialize()
        h.session.announce([.int(7)])
        _ = await h.send(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}"#)
        #expect(h.session.withdraw(.int(7)))
        // The client reuses the id once it has the answer: nothing of the old one is left.
        h.session.announce([.int(7)])
        #expect(!h.session.withdraw(.int(7)))
        #expect(!h.session.withdraw(.int(8)), "never announced")
    }

    /// A batch is announced whole or not at all: announced in part (the cap used to drop the
    /// ids past it silently), its later requests could not be cancelled before they started.
    @Test func announcementsAreAllOrNothingWithinTheirCap() {
        let session = MCPSession(transport: "t", maxInFlight: 2, maxAnnounced: 5)
        #expect(session.maxAnnounced == 5)
        #expect(session.announce([.int(1), .int(2), .int(3)]) == .announced)
        #expect(session.announce([.int(4), .int(5), .int(6)]) == .full, "six would pass five")
        #expect(!session.withdraw(.int(4)), "nothing of the refused batch was announced")
        #expect(session.announce([.int(4), .int(5)]) == .announced)
        session.cancel(.int(5))
        #expect(session.withdraw(.int(5)), "the last one that fits can be cancelled before it starts")
        #expect(MCPSession(transport: "t", maxInFlight: 3).maxAnnounced == 3)
    }

    /// basic/index.mdx "Requests": an id MUST NOT be reused within the session. One
    /// announcement stood for every request with the same id, so repeated ids passed the cap
    /// (an id posted again and again was never counted twice), and the first to finish
    /// withdrew the entry the others' cancels needed. Such a message is refused whole.
    @Test func anIdAlreadyInUseIsNotAnnouncedAgain() {
        let session = MCPSession(transport: "t", maxInFlight: 4, maxAnnounced: 4)
        #expect(session.announce([.int(1)]) == .announced)
        #expect(session.announce([.int(1)]) == .duplicate(.int(1)), "announced and not withdrawn")
        #expect(session.announce([.int(2), .string("a"), .int(2)]) == .duplicate(.int(2)), "twice in one batch")
        #expect(!session.withdraw(.string("a")), "nothing of the refused batch was announced")
        #expect(session.withdraw(.int(1)) == false)
        #expect(session.announce([.int(1)]) == .announced, "withdrawn: the id may be used again")
    }

    @Test("progress.mdx: progress notifications carry the token, relate to the request, and only increase")
    func progress() async {
        let reporting = ToolDefinition(name: "steps", description: "steps", annotations: .readOnly) { _, context in
            await context.progress(1, total: 3)
            await context.progress(1, total: 3)  // not increasing: dropped
            await context.progress(2, total: 3, message: "half")
            return .text("done")
        }
        let h = Harness(tools: [reporting])
        await h.initialize()
        _ = await h.request("tools/call", id: 7, params: ["name": "steps", "_meta": ["progressToken": "tok"]])
        let sent = h.outbound.sent
        #expect(sent.count == 2)
        #expect(sent.allSatisfy { $0.1 == .int(7) })
        #expect(sent.first?.0["params"]?["progressToken"] == "tok")
        #expect(sent.last?.0["params"]?["message"] == "half")
    }

    /// A string token over 256 bytes (a request id's bound: the token is repeated in every
    /// notification) is ignored; one of 256 is used.
    @Test("progress.mdx: without a progressToken, or with one over 256 bytes, no progress is sent",
          arguments: [nil, String(repeating: "t", count: 257)])
    func noProgressToken(token: String?) async {
        let reporting = ToolDefinition(name: "steps", description: "steps", annotations: .readOnly) { _, context in
            #expect(!context.wantsProgress)
            await context.progress(1, total: 3)
            return .text("done")
        }
        let h = Harness(tools: [reporting])
        await h.initialize()
        var params: JSONObject = ["name": "steps"]
        if let token { params["_meta"] = ["progressToken": .string(token)] }
        let response = await h.request("tools/call", params: .object(params))
        #expect(response?["result"]?["content"]?[0]?["text"] == "done")  // the tool ran
        #expect(h.outbound.sent.isEmpty)
    }

    @Test("progress.mdx: a string progressToken of 256 bytes is used")
    func longestProgressToken() async {
        let reporting = ToolDefinition(name: "steps", description: "steps", annotations: .readOnly) { _, context in
            await context.progress(1, total: 3)
            return .text("done")
        }
        let h = Harness(tools: [reporting])
        await h.initialize()
        let token = String(repeating: "t", count: 256)
        _ = await h.request("tools/call", params: ["name": "steps", "_meta": ["progressToken": .string(token)]])
        #expect(h.outbound.sent.first?.0["params"]?["progressToken"] == .string(token))
    }

    @Test("logging.mdx: notifications/message only at or above the level the client set")
    func logMessages() async {
        let chatty = ToolDefinition(name: "chatty", description: "logs", annotations: .readOnly) { _, context in
            await context.log(.debug, "noise")
            await context.log(.warning, "careful")
            return .text("ok")
        }
        let h = Harness(tools: [chatty])
        await h.initialize()
        _ = await h.request("tools/call", params: ["name": "chatty"])
        #expect(h.outbound.sent.isEmpty)  // no level set: no log notifications
        _ = await h.request("logging/setLevel", id: 2, params: ["level": "info"])
        _ = await h.request("tools/call", id: 3, params: ["name": "chatty"])
        #expect(h.outbound.sent.map { $0.0["params"]?["data"] } == ["careful"])
    }

    /// 2026-07-28 changelog item 5: no notifications/message for a request that did not ask
    /// with its logLevel field, whatever the session was set to (on stdio it outlives requests).
    @Test("a stateless request without a logLevel gets no log notifications, even after a setLevel on its session")
    func statelessLogsOnlyWhenAsked() async {
        let chatty = ToolDefinition(name: "chatty", description: "logs", annotations: .readOnly) { _, context in
            await context.log(.warning, "careful")
            return .text("ok")
        }
        let h = Harness(tools: [chatty])
        await h.initialize()
        _ = await h.request("logging/setLevel", id: 1, params: ["level": "debug"])
        #expect(h.session.logLevel == .debug)
        let response = await h.request("tools/call", id: 2, params: ["name": "chatty", "_meta": statelessMeta])
        #expect(response?["result"]?["content"]?[0]?["text"] == "ok")  // the tool ran
        #expect(h.outbound.sent.isEmpty)
        var asking = statelessMeta.objectValue!
        asking[ProtocolVersion.logLevelKey] = "info"
        _ = await h.request("tools/call", id: 3, params: ["name": "chatty", "_meta": .object(asking)])
        #expect(h.outbound.sent.map { $0.0["params"]?["data"] } == ["careful"])
    }

    /// progress.mdx: a token refers to an operation in progress; a cancelled one sends
    /// nothing more, even from a tool that carries on after the cancel.
    @Test("a call cancelled by the client sends no progress or log notification after the cancel")
    func nothingAfterCancel() async {
        let started = AsyncStream<Void>.makeStream()
        let stubborn = ToolDefinition(name: "stubborn", description: "ignores the cancel", annotations: .readOnly) { _, context in
            started.continuation.yield()
            try? await Task.sleep(for: .seconds(30))
            await context.progress(1, total: 2)
            await context.log(.error, "still here")
            return .text("late")
        }
        let h = Harness(tools: [stubborn])
        await h.initialize()
        _ = await h.request("logging/setLevel", id: 2, params: ["level": "debug"])
        async let response = h.request("tools/call", id: 42, params: ["name": "stubborn", "_meta": ["progressToken": "tok"]])
        var iterator = started.stream.makeAsyncIterator()
        await iterator.next()
        _ = await h.send(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":42}}"#)
        #expect(await response == nil)
        #expect(h.outbound.sent.isEmpty)
    }

    @Test("a duplicate in-flight request id is refused")
    func duplicateID() async {
        let gate = AsyncStream<Void>.makeStream()
        let blocking = ToolDefinition(name: "block", description: "block", annotations: .readOnly) { _, _ in
            gate.continuation.yield()
            try await Task.sleep(for: .seconds(30))
            return .text("x")
        }
        let h = Harness(tools: [blocking])
        await h.initialize()
        async let first = h.request("tools/call", id: 5, params: ["name": "block"])
        var iterator = gate.stream.makeAsyncIterator()
        await iterator.next()
        #expect(await h.request("tools/call", id: 5, params: ["name": "block"])?.errorCode == -32600)
        h.session.cancel(.int(5))
        _ = await first
    }
}

/// The per-request fields every stateless request carries (2026-07-28 basic/index.mdx).
let statelessMeta: JSONValue = [
    .init(stringLiteral: ProtocolVersion.metaKey): "2026-07-28", .init(stringLiteral: ProtocolVersion.clientCapabilitiesKey): [:],
]
