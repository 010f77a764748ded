// libFuzzer harness for the JSON-RPC frame decoder (MCPCore).
// Built by fuzz/run.sh together with JSONValue.swift, JSONParser.swift, JSONWriter.swift and JSONRPC.swift.
//
// Properties checked beyond "no crash, no ASan report":
// 1. `JSONRPCFrame.parse` never throws and always yields a frame; a batch is never empty.
// 2. Round trip: any document `JSONParser` accepts is re-serialized by `JSONWriter` into bytes
//    that parse back to an equal value, and serializing that again gives the same bytes.
//    Numbers compare by numeric value: the writer deliberately prints integral doubles
//    below 1e15 as integers (so -0.0 and 1.0 come back as the integers 0 and 1).
// 3. Limits hold: under tight limits (256 bytes, depth 4) a longer document is refused as
//    `tooLarge`, and an accepted one nests no deeper than 4.

// Depth as in config/base.yaml (server.max_json_depth); a byte cap above -max_len so inputs of
// every length reach the parser.
let tight = JSONParser.Limits(maxDepth: 4, maxBytes: 256)
let limits = JSONParser.Limits(maxDepth: 64, maxBytes: 16 << 10)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONRPC(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []

    switch JSONRPCFrame.parse(bytes, limits: limits) {
    case .batch(let messages):
        fuzzCheck(!messages.isEmpty, "a batch frame must not be empty")
    case .single, .parseError:
        break
    }

    do {
        let small = try JSONParser.parse(bytes, limits: tight)
        fuzzCheck(bytes.count <= tight.maxBytes, "document over maxBytes accepted")
        fuzzCheck(depth(small) <= tight.maxDepth, "document deeper than maxDepth accepted")
    } catch {
        if bytes.count > tight.maxBytes { fuzzCheck(error.reason == .tooLarge, "oversized document refused as \(error.reason), not tooLarge") }
    }

    guard let value = try? JSONParser.parse(bytes, limits: limits) else { return 0 }

    let first = value.serialized()
    // The writer may expand escapes; allow the re-parse a larger byte budget, same depth.
    let relaxed = JSONParser.Limits(maxDepth: limits.maxDepth, maxBytes: Int.max / 2)
    let reparsed: JSONValue
    do {
        reparsed = try JSONParser.parse(first, limits: relaxed)
    } catch {
        fatalError("writer output does not re-parse: \(error) in \(String(decoding: first, as: UTF8.self))")
    }
    fuzzCheck(sameJSON(reparsed, value), "round trip changed the value: \(String(decoding: first, as: UTF8.self))")
    fuzzCheck(reparsed.serialized() == first, "serialization is not stable")
    return 0
}

/// Nesting depth: a scalar is 0, `[]` and `{}` are 1.
func depth(_ value: JSONValue) -> Int {
    switch value {
    case .array(let elements): 1 + (elements.map(depth).max() ?? 0)
    case .object(let object): 1 + (object.entries.map { depth($0.value) }.max() ?? 0)
    default: 0
    }
}

/// Structural equality with numbers compared by value (int 1 == double 1.0, 0 == -0.0).
func sameJSON(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.int(let x), .int(let y)): x == y
    case (.int(let x), .double(let y)), (.double(let y), .int(let x)): Double(x) == y
    case (.double(let x), .double(let y)): x == y
    case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { sameJSON($0, $1) }
    case (.object(let x), .object(let y)):
        x.count == y.count && zip(x.entries, y.entries).allSatisfy { $0.key == $1.key && sameJSON($0.value, $1.value) }
    default: a == b
    }
}

/// Like `precondition`, but the message survives -O (libFuzzer prints it with the reproducer).
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
