/// A `Decoder` over a `YAMLNode` tree, so configuration structs stay plain `Decodable`.
///
/// Strict by design: a mapping key that the target type does not declare is an error (at
/// the key's own position), as is a scalar of the wrong kind (`"8443"` is not an integer,
/// `yes` is not a boolean). YAML keys are snake_case; Swift properties are their camelCase
/// spelling. Errors are `ConfigError`s that carry the origin of the offending node.
enum YAMLNodeDecoder {
    static func decode<T: Decodable>(_ type: T.Type, from node: YAMLNode, path: [String] = []) throws(ConfigError) -> T {
        do {
            return try NodeDecoder(node: node, path: path).unbox(type)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(origin: node.origin, path: ConfigKeyPath.render(path), expected: "a decodable value", found: "\(error)")
        }
    }
}

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

final class NodeDecoder: Decoder {
    let node: YAMLNode
    let path: [String]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var codingPath: [any CodingKey] {
        path.map { Int($0).map(AnyCodingKey.init(intValue:)) ?? AnyCodingKey(stringValue: $0) }
    }

    init(node: YAMLNode, path: [String]) {
        self.node = node
        self.path = path
    }

    var isSecret: Bool { ConfigKeyPath.isSecret(path) }

    func mismatch(_ expected: String) -> ConfigError {
        ConfigError(
            origin: node.origin, path: ConfigKeyPath.render(path),
            expected: expected, found: ScalarResolution.describe(node, secret: isSecret)
        )
    }

    /// Decodes `T` at this node; a `ConfigValueError` from `T.init(from:)` becomes a
    /// positioned `ConfigError` here.
    func unbox<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try T(from: self)
        } catch let error as ConfigValueError {
            throw mismatch(error.expected)
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case let .mapping(entries) = node.kind else { throw mismatch("a mapping") }
        for entry in entries {
            guard let key = Key(stringValue: ConfigKeyPath.camelCase(entry.key)),
                  ConfigKeyPath.snakeCase(key.stringValue) == entry.key
            else {
                throw ConfigError(
                    origin: entry.keyOrigin, path: ConfigKeyPath.render(path + [entry.key]),
                    expected: "a known key", found: "unknown key \(ScalarResolution.quote(ScalarResolution.shorten(entry.key)))"
                )
            }
        }
        return KeyedDecodingContainer(NodeKeyedContainer<Key>(decoder: self, entries: entries))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        switch node.kind {
        case let .sequence(items):
            return NodeUnkeyedContainer(decoder: self, items: items)
        case let .scalar(scalar) where node.origin.isCommandLineLike:
            // Environment variables and --set values write a list as "a,b,c" ("" is empty).
            return NodeUnkeyedContainer(decoder: self, items: Self.commaSeparatedItems(scalar.value, origin: node.origin))
        default:
            throw mismatch("a list")
        }
    }

    /// `a, b,c` or `[a, b, c]` -> three plain scalars; empty (or `[]`) -> no items.
    static func commaSeparatedItems(_ text: String, origin: ConfigOrigin) -> [YAMLNode] {
        var body = Substring(text).trimmingPrefixAndSuffixSpaces()
        if body.hasPrefix("["), body.hasSuffix("]"), body.count >= 2 {
            body = body.dropFirst().dropLast().trimmingPrefixAndSuffixSpaces()
        }
        let parts = body.isEmpty ? [] : body.split(separator: ",", omittingEmptySubsequences: false)
        return parts.map { YAMLNode.scalar(String($0.trimmingPrefixAndSuffixSpaces()), origin: origin) }
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        NodeSingleValueContainer(decoder: self)
    }
}

extension Substring {
    func trimmingPrefixAndSuffixSpaces() -> Substring {
        var result = self
        while result.first == " " { result = result.dropFirst() }
        while result.last == " " { result = result.dropLast() }
        return result
    }
}

struct NodeKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    let entries: [YAMLNode.Entry]

    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { entries.compactMap { Key(stringValue: ConfigKeyPath.camelCase($0.key)) } }

    func child(_ key: Key) -> YAMLNode? {
        let name = ConfigKeyPath.snakeCase(key.stringValue)
        return entries.first { $0.key == name }?.value
    }

    func childDecoder(_ key: Key) throws -> NodeDecoder {
        let name = ConfigKeyPath.snakeCase(key.stringValue)
        guard let node = child(key) else {
            throw ConfigError(
                origin: decoder.node.origin, path: ConfigKeyPath.render(decoder.path + [name]),
                expected: "a value for this required key", found: "none"
            )
        }
        return NodeDecoder(node: node, path: decoder.path + [name])
    }

    func contains(_ key: Key) -> Bool { child(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let node = child(key) else { return true }
        if case let .scalar(scalar) = node.kind { return ScalarResolution.resolve(scalar) == .null }
        return false
    }

    func decodeValue<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try childDecoder(key).unbox(type)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decodeValue(type, forKey: key) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decodeValue(type, forKey: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decodeValue(type, forKey: key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decodeValue(type, forKey: key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decodeValue(type, forKey: key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decodeValue(type, forKey: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decodeValue(type, forKey: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decodeValue(type, forKey: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decodeValue(type, forKey: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decodeValue(type, forKey: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decodeValue(type, forKey: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decodeValue(type, forKey: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decodeValue(type, forKey: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decodeValue(type, forKey: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decodeValue(type, forKey: key) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try childDecoder(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try childDecoder(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { try childDecoder(key) }
}

struct NodeUnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    let items: [YAMLNode]
    var currentIndex = 0

    init(decoder: NodeDecoder, items: [YAMLNode]) {
        self.decoder = decoder
        self.items = items
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    mutating func nextDecoder() throws -> NodeDecoder {
        guard !isAtEnd else { throw decoder.mismatch("more list items") }
        defer { currentIndex += 1 }
        return NodeDecoder(node: items[currentIndex], path: decoder.path + [String(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, case let .scalar(scalar) = items[currentIndex].kind, ScalarResolution.resolve(scalar) == .null else {
            return false
        }
        currentIndex += 1
        return true
    }

    mutating func decodeValue<T: Decodable>(_ type: T.Type) throws -> T { try nextDecoder().unbox(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type) }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try decodeValue(type) }
    mutating func decode(_ type: String.Type) throws -> String { try decodeValue(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try decodeValue(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try decodeValue(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try decodeValue(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try decodeValue(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try decodeValue(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try decodeValue(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try decodeValue(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try decodeValue(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeValue(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeValue(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeValue(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeValue(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try nextDecoder().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try nextDecoder().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try nextDecoder() }
}

struct NodeSingleValueContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    var resolved: ScalarResolution.Resolved? {
        guard case let .scalar(scalar) = decoder.node.kind else { return nil }
        return ScalarResolution.resolve(scalar)
    }

    func decodeNil() -> Bool { resolved == .null }

    func decode(_ type: Bool.Type) throws -> Bool {
        if case let .bool(value)? = resolved { return value }
        // An APP_* variable (or --set) may also spell it as Go's strconv.ParseBool does, as
        // the Go server's deployments do (APP_SERVER__SSE_ENABLED=1); files stay strict.
        if case let .scalar(scalar) = decoder.node.kind, scalar.isPlain {
            switch decoder.node.origin {
            case .environment, .flag:
                if let value = Self.goBooleans[scalar.value] { return value }
            case .defaults, .file:
                break
            }
        }
        throw decoder.mismatch("a boolean (true or false)")
    }

    static let goBooleans: [String: Bool] = [
        "1": true, "t": true, "T": true, "TRUE": true, "True": true,
        "0": false, "f": false, "F": false, "FALSE": false, "False": false,
    ]

    func decode(_ type: String.Type) throws -> String {
        guard let resolved, resolved != .null, case let .scalar(scalar) = decoder.node.kind else {
            throw decoder.mismatch("a string")
        }
        return scalar.value
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch resolved {
        case let .int(text)?, let .float(text)?:
            if let value = Double(text) { return value }
        default: break
        }
        throw decoder.mismatch("a number")
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        guard case let .int(text)? = resolved else { throw decoder.mismatch("an integer") }
        guard let value = T(text) else { throw decoder.mismatch("an integer in \(T.min)...\(T.max)") }
        return value
    }
    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.unbox(type) }
}
