import Testing
import Synchronization
@testable import MCPCore

/// JSON-RPC 2.0 framing (https://www.jsonrpc.org/specification) as MCP uses it
/// (2025-11-25 basic/index.mdx "Messages").
@Suite struct JSONRPCTests {
    @Test("§5.1 parse error: -32700 with id null")
    func parseError() async {
        let h = Harness()
        let response = await h.send(#"{"jsonrpc":"2.0","id":1,"method":"#)
        #expect(response?.errorCode == -32700)
        #expect(response?["id"] == .null)
    }

    @Test("§4: jsonrpc must be exactly \"2.0\"", arguments: [#"{"id":1,"method":"ping"}"#, #"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, #"{"jsonrpc":2.0,"id":1,"method":"ping"}"#])
    func wrongVersion(text: String) async {
        let response = await Harness().send(text)
        #expect(response?.errorCode == -32600)
        #expect(response?["id"] == .int(1))
    }

    @Test("MCP: request ids are strings or integers, never null (basic/index.mdx Requests)",
          arguments: [#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, #"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, #"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, #"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#])
    func badIDs(text: String) async {
        let response = await Harness().send(text)
        #expect(response?.errorCode == -32600)
        #expect(response?["id"] == .null)
    }

    @Test("string and integer ids are echoed exactly")
    func idsEchoed() async {
        let h = Harness()
        #expect(await h.send(#"{"jsonrpc":"2.0","id":"abc","method":"ping"}"#)?["id"] == "abc")
        #expect(await h.send(#"{"jsonrpc":"2.0","id":-7,"method":"ping"}"#)?["id"] == .int(-7))
    }

    /// A string id of megabytes was echoed in every answer about its request and kept in the
    /// session's maps and replay buffer: over 256 bytes it is an invalid request, answered
    /// with `"id": null` and the bound; 256 bytes (UTF-8) are read and echoed.
    @Test("a string id over 256 bytes is an invalid request; one of 256 is echoed")
    func longStringIDs() async {
        let h = Harness()
        let longest = String(repeating: "é", count: 128)
        #expect(await h.send(#"{"jsonrpc":"2.0","id":"\#(longest)","method":"ping"}"#)?["id"] == .string(longest))
        let response = await h.send(#"{"jsonrpc":"2.0","id":"\#(longest)x","method":"ping"}"#)
        #expect(response?.errorCode == -32600)
        #expect(response?["id"]?.isNull == true)
        #expect(response?["error"]?["message"]?.stringValue?.contains("at most 256 bytes") == true)
    }

    /// The token progress is sent for, which also decides whether a JSON-mode `tools/call` is
    /// answered on a stream: a string of at most 256 bytes or an integer; anything else none.
    @Test("progressToken: a string of at most 256 bytes or an integer, else none")
    func progressTokens() {
        func token(_ value: JSONValue) -> JSONValue? {
            JSONRPCRequest(id: .int(1), method: "tools/call", params: ["_meta": ["progressToken": value]]).progressToken
        }
        let longest = String(repeating: "p", count: 256)
        #expect(token(.string(longest)) == .string(longest))
        #expect(token(.int(7)) == .int(7))
        for ignored: JSONValue in [.string(longest + "p"), .bool(true), .null, .double(1.5), ["a": 1]] {
            #expect(token(ignored) == nil, "\(ignored)")
        }
        #expect(JSONRPCRequest(id: .int(1), method: "tools/call", params: [:]).progressToken == nil)
    }

    @Test("§5.1 invalid request: not an object, missing method, non-string method, result+method",
          arguments: ["42", #""x""#, #"{"jsonrpc":"2.0","id":1}"#, #"{"jsonrpc":"2.0","id":1,"method":5}"#, #"{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}"#, #"{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}"#, "[]"])
    func invalidRequests(text: String) async {
        #expect(await Harness().send(text)?.errorCode == -32600)
    }

    @Test("§5.1 method not found: -32601")
    func unknownMethod() async {
        let h = Harness()
        await h.initialize()
        let response = await h.request("no/such/method")
        #expect(response?.errorCode == -32601)
    }

    @Test("§4.1 notifications are never answered, not even unknown or failing ones")
    func notificationsUnanswered() async {
        let h = Harness()
        #expect(await h.send(#"{"jsonrpc":"2.0","method":"no/such/notification"}"#) == nil)
        #expect(await h.send(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}"#) == nil)
        #expect(await h.send(#"{"jsonrpc":"2.0","method":"initialized"}"#) == nil)
    }

    @Test("responses from the client are accepted silently")
    func clientResponses() async {
        #expect(await Harness().send(#"{"jsonrpc":"2.0","id":5,"result":{}}"#) == nil)
    }

    /// §4.1: "The Server MUST NOT reply to a Notification", and §4.2 allows positional
    /// params, so a notification whose params are an array is dropped, never answered -32602.
    @Test("§4.1 a notification with positional params is not answered",
          arguments: [#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":[5]}"#,
                      #"{"jsonrpc":"2.0","method":"notifications/initialized","params":[]}"#,
                      #"[{"jsonrpc":"2.0","method":"notifications/cancelled","params":[5]}]"#])
    func positionalNotification(text: String) async {
        #expect(await Harness().send(text) == nil)
    }

    /// §5: an error response carries `"id": null` when the request's id could not be read,
    /// and a response is never answered (§5.1 codes are for requests; an answer to a broken
    /// response could start two peers answering each other forever).
    @Test("§5 client responses are never answered: error with id null, result and error both, no id",
          arguments: [#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
                      #"{"jsonrpc":"2.0","id":5,"result":{},"error":{"code":1,"message":"x"}}"#,
                      #"{"jsonrpc":"2.0","error":{"code":-32603,"message":"x"}}"#,
                      #"[{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}]"#])
    func brokenResponses(text: String) async {
        #expect(await Harness().send(text) == nil)
    }

    @Test("§6 batch: answers for requests only; notifications-only batch gets nothing")
    func batches() async {
        let h = Harness()
        let response = await h.send(#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#)
        #expect(response?.arrayValue?.count == 2)
        #expect(await h.send(#"[{"jsonrpc":"2.0","method":"x"}]"#) == nil)
    }

    @Test("size and depth caps give -32700 with a message naming the cap")
    func caps() async {
        let h = Harness(limits: .init(maxDepth: 8, maxBytes: 200))
        let deep = String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
        let tooDeep = await h.send(deep)
        #expect(tooDeep?.errorCode == -32700)
        #expect(tooDeep?["error"]?["message"]?.stringValue?.contains("8 levels") == true)
        let big = #"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":""# + String(repeating: "a", count: 300) + #""}}"#
        let tooBig = await h.send(big)
        #expect(tooBig?.errorCode == -32700)
        #expect(tooBig?["error"]?["message"]?.stringValue?.contains("200 bytes") == true)
    }
}

@Suite struct BatchCapTests {
    static let element = #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#
    static func batch(_ count: Int) -> String { "[" + Array(repeating: element, count: count).joined(separator: ",") + "]" }

    @Test("a batch over the cap (server.max_batch) is refused as a whole with -32600 and counted; one at the cap is answered",
          arguments: [64, 5])
    func oversizedBatch(cap: Int) async {
        let h = Harness(maxBatch: cap)
        let response = await h.send(Self.batch(cap + 1))
        #expect(response?.errorCode == -32600)
        #expect(response?["error"]?["message"]?.stringValue?.contains("at most \(cap)") == true)
        #expect(h.observer.refused == [.batch])
        #expect(await h.send(Self.batch(cap))?.arrayValue?.count == cap)
        #expect(h.observer.refused == [.batch])
    }
}

/// A batch's answers are kept until the last is ready (JSON-RPC 2.0 §6: one array), so
/// together they are bounded (`server.max_batch_answer_bytes`).
@Suite struct BatchAnswerCapTests {
    /// Answers with `size` bytes of text, and counts its runs.
    final class Runs: Sendable {
        let count = Mutex(0)
        var tool: ToolDefinition {
            ToolDefinition(name: "big", description: "big", annotations: .readOnly) { [self] arguments, _ in
                count.withLock { $0 += 1 }
                return .text(String(repeating: "b", count: Int(try arguments.int("size"))))
            }
        }
    }

    static func call(_ id: Int, size: Int) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"big","arguments":{"size":\#(size)}}}"#
    }

    @Test("past the cap the batch's remaining requests get -32000 and do not run; counted as batch_answer")
    func answersPastTheCapAreRefused() async throws {
        let runs = Runs()
        let h = Harness(tools: [runs.tool], maxBatchAnswerBytes: 100_000)
        await h.initialize(version: "2025-03-26")
        // 60,000 bytes, then 120,000: past the cap after the second; the third is not run.
        let batch = "[" + [Self.call(1, size: 60_000), Self.call(2, size: 60_000), #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}"#,
                           Self.call(3, size: 10), #"{"jsonrpc":"2.0","id":4,"method":"ping"}"#].joined(separator: ",") + "]"
        let answers = try #require(await h.send(batch)?.arrayValue)
        #expect(answers.map { $0["id"] } == [1, 2, 3, 4])
        #expect(answers[1]["result"]?["isError"] == false)
        for refused in answers[2...] {
            #expect(refused.errorCode == -32000)
            #expect(refused["error"]?["message"]?.stringValue?.hasPrefix("Batch answer too large: the answers before this request passed 100000 bytes") == true)
        }
        #expect(runs.count.withLock { $0 } == 2)
        #expect(h.observer.refused == [.batchAnswer, .batchAnswer])
        // Under the cap every request runs.
        let small = "[" + [Self.call(5, size: 40_000), Self.call(6, size: 40_000)].joined(separator: ",") + "]"
        #expect(try #require(await h.send(small)?.arrayValue).allSatisfy { $0["result"]?["isError"] == false })
        #expect(runs.count.withLock { $0 } == 4)
    }

    @Test("a value's approximate size is its serialized size, escapes included, numbers counted as 20")
    func approximateSize() throws {
        let value: JSONValue = ["a": "xyz", "b": [1, true, .null]]
        // {"a":"xyz","b":[1,true,null]} is 29 bytes; the approximation counts 1 as 20 bytes.
        #expect(value.serializedString().utf8.count == 29)
        #expect(value.approximateSerializedBytes == 2 + (3 + 2 + 5) + (3 + 2 + 2 + 21 + 6 + 6))
        // Control characters other than \b \t \n \f \r are six bytes each, as counted.
        let escaped: JSONValue = ["k\u{1}": .string("\u{1}\u{1f}\"\\é")]
        // One separator too many is counted per object or array (after its last entry).
        #expect(escaped.approximateSerializedBytes == escaped.serializedString().utf8.count + 1)
    }

    @Test("a parsed value's held memory: 32 bytes a value, a string's UTF-8 bytes, 32 an array's or object's allocation, 48 an object entry (at least four) and its key")
    func approximateHeldSize() {
        let value: JSONValue = ["ab": "xyz", "c": [1, true, .null]]
        #expect(value.approximateHeldBytes == (32 + 32 + 4 * 48) + (2 + 32 + 3) + (1 + 32 + 32 + 3 * 32))
        let wide = JSONValue.object(JSONObject(entries: (0..<10).map { JSONObject.Entry(key: "k\($0)", value: .null) }))
        #expect(wide.approximateHeldBytes == 32 + 32 + 10 * 48 + 10 * 2 + 10 * 32)
        // An array of zeros holds far more than its JSON ("0," a value).
        let zeros = JSONValue.array(Array(repeating: 0, count: 1000))
        #expect(zeros.approximateHeldBytes == 32 + 32 + 32 * 1000)
        #expect(zeros.approximateHeldBytes > 15 * zeros.serializedString().utf8.count)
    }
}

/// Batches per revision, the rule every transport follows (stdio through `handle(bytes:)`).
@Suite struct BatchRevisionTests {
    /// Its `logging/setLevel` shows whether any of it ran.
    static let batch = #"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"info"}}]"#

    /// 2025-06-18 changelog.mdx "Major changes" 1: "Remove support for JSON-RPC batching".
    @Test("a 2025-06-18 or 2025-11-25 session's batch is refused as a whole: one -32600, id null, nothing run",
          arguments: ["2025-06-18", "2025-11-25"])
    func refusedAfterBatchingWasRemoved(version: String) async {
        let h = Harness()
        await h.initialize(version: version)
        let response = await h.send(Self.batch)
        #expect(response?.errorCode == -32600)
        #expect(response?["id"] == .null)
        #expect(response?["error"]?["message"]?.stringValue?.contains(version) == true)
        #expect(h.session.logLevel == nil)
    }

    /// 2025-03-26 basic/index.mdx "Batching": implementations "MUST support receiving
    /// JSON-RPC batches"; 2024-11-05 servers took them as plain JSON-RPC 2.0 (§6).
    @Test("a 2024-11-05 or 2025-03-26 session's batch is answered with an array", arguments: ["2024-11-05", "2025-03-26"])
    func acceptedWhereTheRevisionHasThem(version: String) async {
        let h = Harness()
        await h.initialize(version: version)
        #expect(await h.send(Self.batch)?.arrayValue?.count == 2)
        #expect(h.session.logLevel == .info)
    }

    /// 2025-03-26 basic/lifecycle.mdx "Initialization": "The initialize request MUST NOT be
    /// part of a JSON-RPC batch".
    @Test("initialize inside a batch is refused and the session stays uninitialized")
    func initializeInABatch() async {
        let h = Harness()
        let response = await h.send(#"[{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{}}}]"#)
        #expect(response?.errorCode == -32600)
        #expect(!h.session.isInitialized)
    }

    /// 2026-07-28 has no batches (its HTTP transport refuses them too).
    @Test("a stateless 2026-07-28 request inside a batch is refused")
    func statelessInABatch() async {
        let h = Harness()
        let response = await h.send(#"[{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}]"#)
        #expect(response?.errorCode == -32600)
    }
}

@Suite struct ParserCapTests {
    @Test("RFC 8259 §4: a repeated object name is refused (no parser differential on \"method\")")
    func duplicateKey() async {
        let response = await Harness().send(#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}"#)
        #expect(response?.errorCode == -32700)
    }

    @Test("RFC 8259 §8.3: names are compared by code units, so canonically equivalent names are distinct, in small and many-keyed objects")
    func namesComparedByCodeUnits() throws {
        // "\u212A" is KELVIN SIGN, canonically equivalent to "K": Swift's == takes them as equal.
        // So are two orders of the same combining marks, which are also as long in UTF-8.
        let small = try JSONParser.parse(#"{"K":1,"\u212A":2,"a\u0301\u0323":3,"a\u0323\u0301":4}"#).objectValue
        #expect(small?.count == 4)
        #expect(small?["K"]?.intValue == 1)
        #expect(small?["\u{212A}"]?.intValue == 2)
        #expect(small?["a\u{301}\u{323}"]?.intValue == 3)
        #expect(small?["a\u{323}\u{301}"]?.intValue == 4)
        let padding = (0..<10).map { "\"p\($0)\":0" }.joined(separator: ",")
        let large = try JSONParser.parse("{" + padding + #","K":1,"\u212A":2}"#).objectValue
        #expect(large?.count == 12)
        #expect(large?["\u{212A}"]?.intValue == 2)
        // A true repeat is still refused on both paths.
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(#"{"\u212A":1,"\u212A":2}"#) }
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse("{" + padding + #","\u212A":1,"\u212A":2}"#) }
    }

    @Test("a document with more values than the cap is refused before it is built")
    func tooManyValues() async {
        let h = Harness(limits: .init(maxDepth: 64, maxBytes: 1 << 20, maxValues: 1000))
        let text = "[" + Array(repeating: "1", count: 5000).joined(separator: ",") + "]"
        let response = await h.send(text)
        #expect(response?.errorCode == -32700)
        #expect(response?["error"]?["message"]?.stringValue?.contains("1000") == true)
        #expect(h.observer.refused == [.jsonValues])
    }

    /// `server.max_json_depth` goes up to 1000: a message that deep is parsed (the parser
    /// recurses once per level), and one level more is refused at the cap.
    @Test("a message at the highest depth the configuration allows (1000) is parsed; one deeper is refused")
    func deepestAllowedMessage() async {
        let h = Harness(limits: .init(maxDepth: 1000, maxBytes: 1 << 20, maxValues: 100_000))
        // The message object and its params are two levels; the nested arrays make up the rest.
        func ping(depth: Int) -> String {
            #"{"jsonrpc":"2.0","id":7,"method":"ping","params":{"x":"# + String(repeating: "[", count: depth - 2)
                + String(repeating: "]", count: depth - 2) + "}}"
        }
        let answer = await h.send(ping(depth: 1000))
        #expect(answer?["id"]?.intValue == 7)
        #expect(answer?["error"] == nil, "\(String(describing: answer))")
        #expect(await h.send(ping(depth: 1001))?.errorCode == -32700)
        #expect(h.observer.refused == [.jsonDepth])
    }

    @Test("refusals at the depth and size caps are counted by cap; a plain parse error is not")
    func capsCounted() async {
        let h = Harness(limits: .init(maxDepth: 8, maxBytes: 1000, maxValues: 1000))
        #expect(await h.send(String(repeating: "[", count: 20) + String(repeating: "]", count: 20))?.errorCode == -32700)
        #expect(await h.send("[" + String(repeating: " ", count: 2000) + "]")?.errorCode == -32700)
        #expect(await h.send(#"{"jsonrpc":"2.0","id":1,"method":"#)?.errorCode == -32700)
        #expect(h.observer.refused == [.jsonDepth, .body])
    }

    @Test("an object with many keys parses in linear time")
    func manyKeys() throws {
        let members = (0..<50_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        let started = ContinuousClock.now
        let value = try JSONParser.parse("{" + members + "}")
        #expect(value.objectValue?.count == 50_000)
        // Quadratic insertion took minutes here; linear takes well under a second even in debug.
        #expect(ContinuousClock.now - started < .seconds(20))
    }
}
