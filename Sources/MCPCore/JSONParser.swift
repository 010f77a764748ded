/// A strict RFC 8259 JSON parser with caps, for input from the network.
///
/// It refuses what a lenient parser would guess at: trailing commas, comments, leading
/// zeros, `NaN`, invalid escapes, control characters in strings, invalid UTF-8, repeated
/// object keys (which parsers resolve differently) and anything after the value. An escaped
/// unpaired surrogate, which RFC 8259 §8.2 allows, becomes U+FFFD. Nesting is capped
/// (``Limits/maxDepth``) so a 10,000-deep array costs a bounded stack, and the input size
/// is capped before the first byte is read.
public struct JSONParser {
    public struct Limits: Sendable, Hashable {
        public var maxDepth: Int
        public var maxBytes: Int
        /// Values (scalars, arrays, objects) in one document: a 4 MiB body of `[1,1,…]` holds
        /// two million of them, each costing far more memory than its two bytes of input.
        public var maxValues: Int

        public init(maxDepth: Int = 64, maxBytes: Int = 4 << 20, maxValues: Int = 1 << 20) {
            self.maxDepth = maxDepth
            self.maxBytes = maxBytes
            self.maxValues = maxValues
        }
    }

    /// Why a document was refused, with the byte offset where it went wrong.
    public struct Error: Swift.Error, Sendable, Hashable, CustomStringConvertible {
        public enum Reason: String, Sendable, Hashable {
            case tooLarge = "document too large"
            case tooDeep = "nesting too deep"
            case unexpectedEnd = "unexpected end of input"
            case unexpectedCharacter = "unexpected character"
            case invalidNumber = "invalid number"
            case invalidString = "invalid string"
            case invalidEscape = "invalid escape"
            case invalidUTF8 = "invalid UTF-8"
            case trailingData = "trailing data after the value"
            case tooManyValues = "too many values"
            /// RFC 8259 §4: names SHOULD be unique; a repeated one could mean different things
            /// to different parsers (a smuggled "method"), so it is refused.
            case duplicateKey = "duplicate object key"
        }

        public var reason: Reason
        public var offset: Int

        public var description: String { "\(reason.rawValue) at byte \(offset)" }
    }

    public static func parse(_ bytes: some Collection<UInt8>, limits: Limits = Limits()) throws(Error) -> JSONValue {
        guard bytes.count <= limits.maxBytes else { throw Error(reason: .tooLarge, offset: limits.maxBytes) }
        // Contiguous bytes (a request body's buffer) are read in place; anything else is copied.
        let result = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(Error) -> JSONValue in try parse(buffer, limits: limits) }
        } ?? Array(bytes).withUnsafeBufferPointer { buffer in
            Result { () throws(Error) -> JSONValue in try parse(buffer, limits: limits) }
        }
        return try result.get()
    }

    private static func parse(_ buffer: UnsafeBufferPointer<UInt8>, limits: Limits) throws(Error) -> JSONValue {
        var parser = Cursor(bytes: buffer, maxDepth: limits.maxDepth, maxValues: limits.maxValues)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == buffer.count else { throw Error(reason: .trailingData, offset: parser.index) }
        return value
    }

    public static func parse(_ string: String, limits: Limits = Limits()) throws(Error) -> JSONValue {
        try parse(Array(string.utf8), limits: limits)
    }
}

extension JSONParser {
    fileprivate struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        let maxDepth: Int
        let maxValues: Int
        var index = 0
        var values = 0

        init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, maxValues: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
            self.maxValues = maxValues
        }

        func fail(_ reason: Error.Reason) -> Error { Error(reason: reason, offset: index) }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        func peek() throws(Error) -> UInt8 {
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            return bytes[index]
        }

        mutating func expect(_ literal: StaticString, _ value: JSONValue) throws(Error) -> JSONValue {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw Error(reason: .unexpectedEnd, offset: bytes.count) }
            let start = literal.utf8Start
            for offset in 0..<count where bytes[index + offset] != start[offset] {
                throw Error(reason: .unexpectedCharacter, offset: index + offset)
            }
            index += count
            return value
        }

        mutating func parseValue(depth: Int) throws(Error) -> JSONValue {
            values += 1
            guard values <= maxValues else { throw fail(.tooManyValues) }
            switch try peek() {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw fail(.unexpectedCharacter)
            }
        }

        /// Objects with more keys than this check for duplicates with a set.
        static let linearKeyLimit = 8

        mutating func parseObject(depth: Int) throws(Error) -> JSONValue {
            guard depth <= maxDepth else { throw fail(.tooDeep) }
            index += 1
            // Entries are collected in order. Duplicate names are found by a linear scan while
            // the object is small (MCP objects have a handful of keys; hashing each cost more),
            // then with a set, so a many-keyed object is not quadratic.
            var entries: [JSONObject.Entry] = []
            var names: Set<JSONObject.CodeUnitName>?
            skipWhitespace()
            if try peek() == UInt8(ascii: "}") {
                index += 1
                return .object(JSONObject())
            }
            // Room for four keys at once: grown from empty, a four-key request envelope was
            // three allocations (capacity 1, 2, 4) and a two-key `params` two.
            entries.reserveCapacity(4)
            while true {
                skipWhitespace()
                guard try peek() == UInt8(ascii: "\"") else { throw fail(.unexpectedCharacter) }
                let key = try parseString()
                skipWhitespace()
                guard try peek() == UInt8(ascii: ":") else { throw fail(.unexpectedCharacter) }
                index += 1
                skipWhitespace()
                if names == nil, entries.count >= Self.linearKeyLimit { names = Set(entries.map { JSONObject.CodeUnitName(name: $0.key) }) }
                if names != nil {
                    guard names!.insert(JSONObject.CodeUnitName(name: key)).inserted else { throw fail(.duplicateKey) }
                } else {
                    if JSONObject.index(of: key, in: entries) != nil { throw fail(.duplicateKey) }
                }
                entries.append(JSONObject.Entry(key: key, value: try parseValue(depth: depth)))
                skipWhitespace()
                switch try peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return .object(JSONObject(entries: entries))
                default: throw fail(.unexpectedCharacter)
                }
            }
        }

        mutating func parseArray(depth: Int) throws(Error) -> JSONValue {
            guard depth <= maxDepth else { throw fail(.tooDeep) }
            index += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if try peek() == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try parseValue(depth: depth))
                skipWhitespace()
                switch try peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return .array(elements)
                default: throw fail(.unexpectedCharacter)
                }
            }
        }

        /// Numbers per RFC 8259 s6: an integer that fits `Int64` stays an integer; anything
        /// with a fraction or exponent, or too large, becomes a double.
        mutating func parseNumber() throws(Error) -> JSONValue {
            let start = index
            var isInteger = true
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count else { throw fail(.invalidNumber) }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else if isDigit(bytes[index]) {
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            } else {
                throw fail(.invalidNumber)
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                isInteger = false
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw fail(.invalidNumber) }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                isInteger = false
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                    index += 1
                }
                guard index < bytes.count, isDigit(bytes[index]) else { throw fail(.invalidNumber) }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            if isInteger, let int = Int64(text) { return .int(int) }
            guard let double = Double(text), double.isFinite else {
                throw Error(reason: .invalidNumber, offset: start)
            }
            return .double(double)
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        /// A string, validated as UTF-8 as it is read. The fast path copies a run of plain
        /// bytes at once; escapes are decoded into the same scratch buffer.
        mutating func parseString() throws(Error) -> String {
            index += 1
            let start = index
            // Fast path: no escapes, all bytes printable. ASCII needs no validation (and
            // `String(validating:)` is generic: its metadata lookups cost more than the rest).
            var ascii = true
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    let string: String
                    if ascii {
                        string = String(decoding: slice, as: UTF8.self)
                    } else {
                        guard let valid = String(validating: slice, as: UTF8.self) else {
                            throw Error(reason: .invalidUTF8, offset: start)
                        }
                        string = valid
                    }
                    index += 1
                    return string
                }
                if byte >= 0x80 { ascii = false }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
                index += 1
            }
            var scratch = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
            while true {
                guard index < bytes.count else { throw fail(.unexpectedEnd) }
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    guard let string = String(validating: scratch, as: UTF8.self) else {
                        throw Error(reason: .invalidUTF8, offset: start)
                    }
                    index += 1
                    return string
                case UInt8(ascii: "\\"):
                    index += 1
                    try parseEscape(into: &scratch)
                case 0x00..<0x20:
                    throw fail(.invalidString)
                default:
                    scratch.append(byte)
                    index += 1
                }
            }
        }

        mutating func parseEscape(into scratch: inout [UInt8]) throws(Error) {
            let byte = try peek()
            index += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(byte)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate pairs with an escaped low surrogate right after it.
                    // Anything else is left for the loop to read on its own.
                    let afterHigh = index
                    if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                        index += 2
                        let low = try parseHex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            index = afterHigh
                        }
                    }
                }
                // RFC 8259 §8.2: an unpaired surrogate is valid JSON but no Unicode scalar;
                // it becomes U+FFFD (as in Go's decoder and WHATWG's), not a parse error for
                // the whole message.
                let unicode = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                scratch.append(contentsOf: UTF8.encode(unicode)!)
            default:
                throw Error(reason: .invalidEscape, offset: index - 1)
            }
        }

        mutating func parseHex4() throws(Error) -> UInt32 {
            guard index + 4 <= bytes.count else { throw Error(reason: .unexpectedEnd, offset: bytes.count) }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw fail(.invalidEscape)
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }
    }
}
