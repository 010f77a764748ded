import Testing
@testable import MCPCore

/// The writer's own buffer, its in-place integers and its eight-bytes-at-a-time scan for
/// characters to escape (RFC 8259 §7); and the parser's paths for ASCII and non-ASCII
/// strings and for duplicate names in small and large objects (§4).
@Suite struct JSONWriterTests {
    @Test("integers are written in place, including both ends of Int64 (RFC 8259 §6)",
          arguments: [Int64.min, Int64.min + 1, -1_000_000, -10, -9, -1, 0, 1, 9, 10, 99, 100, 1_234_567_890, Int64.max])
    func integers(_ value: Int64) {
        #expect(JSONValue.int(value).serializedString() == String(value))
    }

    @Test("doubles: integral ones as integers, others as Swift prints them, non-finite as null")
    func doubles() {
        #expect(JSONValue.double(3).serializedString() == "3")
        #expect(JSONValue.double(-2.5).serializedString() == "-2.5")
        #expect(JSONValue.double(.infinity).serializedString() == "null")
        #expect(JSONValue.double(.nan).serializedString() == "null")
        // Short and long forms, exponents, and the shortest form that reads back as the
        // same value (RFC 8259 §6).
        for d in [0.119370944, 0.1 + 0.2, -1.7976931348623157e308, 1e300, 1.5e-7, 5e-324, 123456.789, 1e15 + 0.5] {
            let text = JSONValue.double(d).serializedString()
            #expect(text == "\(d)")
            #expect(Double(text) == d)
        }
    }

    /// Every character that must be escaped, at every position of a 20-byte string: inside
    /// the first eight-byte word, across the word boundary, and in the byte-by-byte tail.
    @Test("each escape is found wherever it falls relative to the eight-byte words (§7)",
          arguments: ["\"", "\\", "\n", "\r", "\t", "\u{08}", "\u{0C}", "\u{01}", "\u{1F}"])
    func escapesAtEveryPosition(_ special: String) throws {
        for position in 0..<20 {
            var characters = Array(repeating: "a", count: 20)
            characters[position] = special
            let text = characters.joined()
            let written = JSONValue.string(text).serializedString()
            #expect(try JSONParser.parse(written) == .string(text), "position \(position)")
            #expect(written.utf8.count == text.utf8.count + 2 + escapeLength(special) - 1, "position \(position)")
        }
    }

    /// Adjacent escapes, several in one word, and runs between them: what JSON carried as a
    /// string (a tool's text content) looks like, checked against a byte-by-byte escaper.
    @Test("text dense with characters to escape is written as a byte-by-byte escaper writes it (§7)")
    func denseEscapes() {
        let alphabet: [UInt8] = Array("ab\"\\\n\u{01}{}:,".utf8)
        var seed: UInt64 = 42
        for length in 0..<64 {
            var bytes: [UInt8] = []
            for _ in 0..<length {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                bytes.append(alphabet[Int(seed >> 33) % alphabet.count])
            }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(JSONValue.string(text).serializedString() == Self.reference(text), "length \(length): \(text)")
        }
    }

    private static func reference(_ text: String) -> String {
        var out = "\""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x01: out += "\\u0001"
            default: out += String(UnicodeScalar(byte))
            }
        }
        return out + "\""
    }

    private func escapeLength(_ special: String) -> Int {
        switch special {
        case "\"", "\\", "\n", "\r", "\t", "\u{08}", "\u{0C}": 2
        default: 6  // \u00XX
        }
    }

    @Test("bytes at and above 0x7F, and non-ASCII text, pass through unescaped")
    func nonASCII() throws {
        let text = "\u{7F}grüße, 日本語, 🙂 and more ascii after"
        let written = JSONValue.string(text).serializedString()
        #expect(written == "\"" + text + "\"")
        #expect(try JSONParser.parse(written) == .string(text))
    }

    @Test("output far beyond the initial capacity grows the buffer and keeps every byte")
    func growth() throws {
        let long = String(repeating: "0123456789", count: 10_000)
        let value: JSONValue = .array((0..<200).map { .object(["k\($0)": .string(long.prefix($0 * 37).description), "n": .int(Int64($0))]) })
        var writer = JSONWriter(reservingCapacity: 1)
        writer.write(value)
        let bytes = writer.bytes
        #expect(try JSONParser.parse(bytes) == value)
        #expect(bytes == value.serialized())
    }

    @Test("a string that is not native (a Substring's copy, a small string) is written the same way")
    func smallAndSlicedStrings() {
        #expect(JSONValue.string("ab\"c").serializedString() == #""ab\"c""#)
        let sliced = String("xx\nyy".dropFirst())
        #expect(JSONValue.string(sliced).serializedString() == #""x\nyy""#)
    }

    @Test("a JSON tool result serializes its object once: the text is the compact JSON, and structuredContent writes the same bytes")
    func jsonToolResult() throws {
        let value: JSONValue = ["name": "axinova", "uptime_seconds": 12.5, "protocol_versions": ["2025-11-25"], "quote": "a\"b"]
        let result = ToolResult.json(value)
        guard case .text(let text) = result.content.first, case .object(let structured)? = result.structuredContent else {
            Issue.record("expected a text content and an object")
            return
        }
        #expect(text == value.serializedString())
        #expect(structured.serializedText == text)
        #expect(JSONValue.object(structured) == value)
        #expect(JSONValue.object(structured).serializedString() == text)
        // Not an object: the text alone.
        #expect(ToolResult.json([1, 2]).structuredContent == nil)
    }

    @Test("a preserialized object is written as its bytes, equal to the plain one, until it changes")
    func preserializedObject() throws {
        let plain: JSONObject = ["name": "t", "inputSchema": ["type": "object", "required": ["a\"b"]], "n": 1.5]
        var kept = plain.preserialized()
        #expect(kept == plain)
        #expect(kept.hashValue == plain.hashValue)
        #expect(JSONValue.array([.object(kept), .object(kept)]).serializedString() == JSONValue.array([.object(plain), .object(plain)]).serializedString())
        // The writer copies the kept bytes: bytes kept for other content would show.
        var forged = plain
        forged.serializedText = #"{"forged":true}"#
        #expect(JSONValue.object(forged).serializedString() == #"{"forged":true}"#)
        // A change drops them.
        kept["n"] = 2
        kept["extra"] = "x"
        #expect(JSONValue.object(kept).serializedString() == #"{"name":"t","inputSchema":{"type":"object","required":["a\"b"]},"n":2,"extra":"x"}"#)
        kept["extra"] = nil
        #expect(try JSONParser.parse(JSONValue.object(kept).serialized()) == .object(kept))
    }
}

@Suite struct JSONParserPathTests {
    @Test("a repeated name is refused in a small object (linear scan) and a large one (set) (§4)",
          arguments: [2, 7, 8, 9, 40])
    func duplicateNames(_ keys: Int) {
        var members = (0..<keys).map { "\"k\($0)\":\($0)" }
        #expect((try? JSONParser.parse("{" + members.joined(separator: ",") + "}")) != nil)
        for repeated in [0, keys - 1] {
            members.append("\"k\(repeated)\":0")
            #expect(throws: JSONParser.Error.self) { try JSONParser.parse("{" + members.joined(separator: ",") + "}") }
            members.removeLast()
        }
    }

    @Test("strings: ASCII, valid UTF-8 and invalid UTF-8 (refused with its offset)")
    func utf8() throws {
        #expect(try JSONParser.parse(#"["plain", "grüße"]"#) == .array([.string("plain"), .string("grüße")]))
        for invalid: [UInt8] in [[0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xE2, 0x82]] {
            let document = Array(#"{"k":"ab"#.utf8) + invalid + Array(#""}"#.utf8)
            #expect(throws: JSONParser.Error(reason: .invalidUTF8, offset: 6)) { try JSONParser.parse(document) }
        }
    }

    /// RFC 8259 §8.2: a string whose escapes name an unpaired surrogate is valid JSON
    /// (JavaScript's JSON.stringify writes one for a cut string); it becomes U+FFFD, as the
    /// Go server's decoder did. A proper pair is still one code point.
    @Test("§8.2 an escaped unpaired surrogate becomes U+FFFD; a pair is one code point",
          arguments: [(#""\ud800""#, "\u{FFFD}"), (#""\udc00""#, "\u{FFFD}"), (#""a\ud800b""#, "a\u{FFFD}b"),
                      (#""\ud800\u0041""#, "\u{FFFD}A"), (#""\ud800\ud800\udc00""#, "\u{FFFD}\u{10000}"),
                      (#""\udc00\ud800""#, "\u{FFFD}\u{FFFD}"), (#""\ud83d\ude00""#, "😀"), (#""\ud800\n""#, "\u{FFFD}\n")])
    func unpairedSurrogates(text: String, expected: String) throws {
        #expect(try JSONParser.parse(text) == .string(expected))
    }

    @Test("a surrogate escape cut short is still refused")
    func truncatedSurrogate() {
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(#""\ud800\u12""#) }
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(#""\ud800\uZZZZ""#) }
    }

    @Test("non-contiguous input is parsed like contiguous input")
    func nonContiguous() throws {
        let text = #"{"jsonrpc":"2.0","id":7,"method":"ping"}"#
        let lazyBytes = text.utf8.lazy.map { $0 }
        #expect(try JSONParser.parse(lazyBytes) == JSONParser.parse(Array(text.utf8)))
    }
}
