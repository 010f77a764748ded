/// A JSON document as a value: what the protocol core reads from the wire and what tools
/// return.
///
/// Objects keep their keys in insertion order, so schemas and results read the way they
/// were written (`"type"` before `"properties"`), and the same value always serializes to
/// the same bytes. Integers and doubles are kept apart so an id of `7` goes back out as
/// `7`, never `7.0`.
///
/// ```swift
/// let schema: JSONValue = ["type": "object", "required": ["uid"]]
/// schema["required"]?[0]?.stringValue   // "uid"
/// ```
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// An insertion-ordered JSON object. Lookups are linear: MCP objects are small (tens of
/// keys), and a linear scan over a contiguous array beats hashing at that size.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    /// A key and its value. A struct rather than a tuple: the runtime destroys an array of
    /// tuples through its generic tuple witness, element by element and field by field
    /// (1.5 % of a `tools/call`'s CPU went to freeing JSON objects that way, `perf`); an
    /// array of a struct is destroyed by code compiled for it.
    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: JSONValue

        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    public private(set) var entries: [Entry]
    /// This object's compact JSON, kept by ``preserialized()`` for an object written many
    /// times as it is (a tool's `tools/list` entry): ``JSONWriter`` copies its bytes rather
    /// than walk the entries again. Any change drops it; equality and hashing ignore it.
    /// Set by ``preserialized()`` alone (and by a test, to see that the writer copies it).
    /// Text, not an array of bytes: a JSON tool result's text content is this same string.
    var serializedText: String?

    public init() { entries = [] }
    public init(entries: [Entry]) { self.entries = entries }
    public init(_ entries: [(key: String, value: JSONValue)]) { self.entries = entries.map { Entry(key: $0.key, value: $0.value) } }
    /// Room for two keys more than the literal has: objects are often built from a literal
    /// and then given an optional key or two (`nextCursor`, `data`, `structuredContent`),
    /// and each append past the capacity reallocated the entries.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(literal: elements)
    }

    init(literal elements: [(String, JSONValue)]) {
        entries = []
        entries.reserveCapacity(elements.count + 2)
        for (key, value) in elements { entries.append(Entry(key: key, value: value)) }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public var keys: [String] { entries.map(\.key) }

    /// Reading returns the value of the key; writing replaces it in place, appends a new key,
    /// or removes the key when given `nil`.
    public subscript(key: String) -> JSONValue? {
        get { Self.index(of: key, in: entries).map { entries[$0].value } }
        set {
            serializedText = nil
            let index = Self.index(of: key, in: entries)
            switch (index, newValue) {
            case (let i?, let v?): entries[i].value = v
            case (let i?, nil): entries.remove(at: i)
            case (nil, let v?): entries.append(Entry(key: key, value: v))
            case (nil, nil): break
            }
        }
    }

    /// Where `key` is among `entries`, compared code unit by code unit (RFC 8259 §8.3;
    /// ``Swift/String/hasSameCodeUnits(as:)``), lengths first: most keys differ in length.
    static func index(of key: String, in entries: [Entry]) -> Int? {
        for index in entries.indices where entries[index].key.hasSameCodeUnits(as: key) { return index }
        return nil
    }

    /// An object name hashed and compared by its UTF-8 code units (see ``index(of:in:)``),
    /// for the parser's duplicate check on many-keyed objects.
    struct CodeUnitName: Hashable {
        let name: String
        static func == (lhs: Self, rhs: Self) -> Bool { lhs.name.hasSameCodeUnits(as: rhs.name) }
        func hash(into hasher: inout Hasher) {
            var name = name
            name.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    /// The same object, carrying its serialization (``serializedText``).
    public func preserialized() -> JSONObject {
        var copy = self
        copy.serializedText = JSONValue.object(self).serializedString()
        return copy
    }

    /// Iterates `(key, value)` pairs, so `for (key, value) in object` reads as for a dictionary.
    public struct Iterator: IteratorProtocol {
        var base: IndexingIterator<[Entry]>

        public mutating func next() -> (key: String, value: JSONValue)? {
            base.next().map { (key: $0.key, value: $0.value) }
        }
    }

    public func makeIterator() -> Iterator {
        Iterator(base: entries.makeIterator())
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for entry in entries {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }
}

extension JSONValue {
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { o } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var isNull: Bool { self == .null }

    /// An integer, also from a double with no fractional part (`5.0`), as JSON does not
    /// tell them apart.
    public var intValue: Int64? {
        switch self {
        case .int(let i): i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: Int64(d)
        default: nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    /// Member of an object, or `nil` for anything else.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { o[key] } else { nil }
    }

    /// Element of an array, or `nil` when out of range or not an array.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(literal: elements))
    }
}

extension JSONValue {
    /// About the bytes this value serializes to, without serializing it: strings with their
    /// escapes (a control character counted as six bytes, the most it takes; `"` and `\`
    /// two), numbers as 20. What the answers of a batch are bounded by.
    public var approximateSerializedBytes: Int {
        switch self {
        case .null, .bool: 5
        case .int, .double: 20
        case .string(let text): Self.escapedBytes(text)
        case .array(let values): values.reduce(2) { $0 + $1.approximateSerializedBytes + 1 }
        case .object(let object): object.reduce(2) { $0 + Self.escapedBytes($1.key) + 2 + $1.value.approximateSerializedBytes }
        }
    }

    /// About the memory this parsed value holds: a value's slot each (``heldSlotBytes``), a
    /// string's UTF-8 bytes, an array's or object's allocation (``heldHeaderBytes``), and an
    /// object's entries, at least the four the parser reserves (``heldEntryBytes``), with their
    /// keys. Measured against RSS (`bench/http/held_calls.sh`): an array of zeros holds about
    /// 34 bytes per element, eleven times its JSON; an array of `{"a":0}` about 276 bytes per
    /// object, 34 times. So a request's size on the wire says little about what it keeps while
    /// its call runs. What a tool call's request is charged with
    /// (`limits.max_inflight_request_bytes`).
    public var approximateHeldBytes: Int {
        switch self {
        case .null, .bool, .int, .double: Self.heldSlotBytes
        case .string(let text): Self.heldSlotBytes + text.utf8.count
        case .array(let values): values.reduce(Self.heldSlotBytes + Self.heldHeaderBytes) { $0 + $1.approximateHeldBytes }
        case .object(let object): Self.heldBytes(of: object)
        }
    }

    /// ``approximateHeldBytes`` of an object.
    public static func heldBytes(of object: JSONObject) -> Int {
        let table = heldSlotBytes + heldHeaderBytes + heldEntryBytes * max(4, object.count)
        return object.reduce(table) { $0 + $1.key.utf8.count + $1.value.approximateHeldBytes }
    }

    static let heldSlotBytes = 32
    static let heldHeaderBytes = 32
    static let heldEntryBytes = 48

    /// A string's bytes in JSON, quotes included (``JSONWriter``'s escaping).
    static func escapedBytes(_ text: String) -> Int {
        var bytes = 2
        for byte in text.utf8 {
            bytes += byte < 0x20 ? 6 : (byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")) ? 2 : 1
        }
        return bytes
    }
}
