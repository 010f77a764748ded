/// An `Encoder` from `Encodable` values to a `YAMLNode` tree. It serves two purposes: the
/// embedded defaults are `AppConfig()` encoded (so the defaults live in one place, the
/// Swift types), and `check-config` renders the effective config from the decoded value.
enum YAMLNodeEncoder {
    static func encode<T: Encodable>(_ value: T, origin: ConfigOrigin = .defaults) throws -> YAMLNode {
        let box = NodeBox()
        try value.encode(to: NodeEncoder(box: box, path: []))
        return box.node(origin: origin)
    }
}

/// A tree under construction (containers hand out references to their children).
final class NodeBox {
    enum Kind {
        case empty
        case scalar(YAMLNode.Scalar)
        case sequence([NodeBox])
        case mapping([(String, NodeBox)])
    }

    var kind: Kind = .empty

    func node(origin: ConfigOrigin) -> YAMLNode {
        switch kind {
        case .empty: YAMLNode(.mapping([]), origin: origin)
        case let .scalar(scalar): YAMLNode(.scalar(scalar), origin: origin)
        case let .sequence(items): YAMLNode(.sequence(items.map { $0.node(origin: origin) }), origin: origin)
        case let .mapping(entries):
            YAMLNode(.mapping(entries.map { .init(key: $0.0, keyOrigin: origin, value: $0.1.node(origin: origin)) }), origin: origin)
        }
    }
}

final class NodeEncoder: Encoder {
    let box: NodeBox
    let path: [String]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var codingPath: [any CodingKey] { path.map { AnyCodingKey(stringValue: $0) } }

    init(box: NodeBox, path: [String]) {
        self.box = box
        self.path = path
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .mapping = box.kind {} else { box.kind = .mapping([]) }
        return KeyedEncodingContainer(NodeKeyedEncodingContainer<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .sequence = box.kind {} else { box.kind = .sequence([]) }
        return NodeUnkeyedEncodingContainer(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        NodeSingleValueEncodingContainer(encoder: self, box: box)
    }
}

struct NodeKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: NodeEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    func child(_ key: Key) -> NodeEncoder {
        let name = ConfigKeyPath.snakeCase(key.stringValue)
        let child = NodeBox()
        if case var .mapping(entries) = encoder.box.kind {
            entries.removeAll { $0.0 == name }
            entries.append((name, child))
            encoder.box.kind = .mapping(entries)
        }
        return NodeEncoder(box: child, path: encoder.path + [name])
    }

    mutating func encodeNil(forKey key: Key) throws { child(key).box.kind = .scalar(.init("null")) }
    mutating func encodeValue<T: Encodable>(_ value: T, forKey key: Key) throws { try value.encode(to: child(key)) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encodeValue(value, forKey: key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encodeValue(value, forKey: key) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        child(key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { child(key).unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { encoder }
    mutating func superEncoder(forKey key: Key) -> any Encoder { child(key) }
}

struct NodeUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let encoder: NodeEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    var count: Int {
        if case let .sequence(items) = encoder.box.kind { return items.count }
        return 0
    }

    func next() -> NodeEncoder {
        let child = NodeBox()
        if case var .sequence(items) = encoder.box.kind {
            items.append(child)
            encoder.box.kind = .sequence(items)
        }
        return NodeEncoder(box: child, path: encoder.path + [String(count - 1)])
    }

    mutating func encodeNil() throws { next().box.kind = .scalar(.init("null")) }
    mutating func encodeValue<T: Encodable>(_ value: T) throws { try value.encode(to: next()) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeValue(value) }
    mutating func encode(_ value: Bool) throws { try encodeValue(value) }
    mutating func encode(_ value: String) throws { try encodeValue(value) }
    mutating func encode(_ value: Double) throws { try encodeValue(value) }
    mutating func encode(_ value: Float) throws { try encodeValue(value) }
    mutating func encode(_ value: Int) throws { try encodeValue(value) }
    mutating func encode(_ value: Int8) throws { try encodeValue(value) }
    mutating func encode(_ value: Int16) throws { try encodeValue(value) }
    mutating func encode(_ value: Int32) throws { try encodeValue(value) }
    mutating func encode(_ value: Int64) throws { try encodeValue(value) }
    mutating func encode(_ value: UInt) throws { try encodeValue(value) }
    mutating func encode(_ value: UInt8) throws { try encodeValue(value) }
    mutating func encode(_ value: UInt16) throws { try encodeValue(value) }
    mutating func encode(_ value: UInt32) throws { try encodeValue(value) }
    mutating func encode(_ value: UInt64) throws { try encodeValue(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        next().container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { next().unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { next() }
}

struct NodeSingleValueEncodingContainer: SingleValueEncodingContainer {
    let encoder: NodeEncoder
    let box: NodeBox
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { box.kind = .scalar(.init("null")) }
    mutating func encode(_ value: Bool) throws { box.kind = .scalar(.init(value ? "true" : "false")) }
    mutating func encode(_ value: String) throws { box.kind = .scalar(.init(value, isPlain: false)) }
    mutating func encode(_ value: Double) throws { box.kind = .scalar(.init(value.description)) }
    mutating func encode(_ value: Float) throws { box.kind = .scalar(.init(value.description)) }
    mutating func encode(_ value: Int) throws { box.kind = .scalar(.init(String(value))) }
    mutating func encode(_ value: Int8) throws { box.kind = .scalar(.init(String(value))) }
    mutating func encode(_ value: Int16) throws { box.kind = .scalar(.init(String(value))) }
    mutating func encode(_ value: Int32) throws { box.kind = .scalar(.init(String(value))) }
    mutating func encode(_ value: Int64) throws { box.kind = .scalar(.init(String(value))) }
    mutating func encode(_ value: UInt) throws { box.kind = .scalar(.init(String(value))) }
    mutating func encode(_ value: UInt8) throws { box.kind = .scalar(.init(String(value))) }
    mutating func encode(_ value: UInt16) throws { box.kind = .scalar(.init(String(value))) }
    mutating func encode(_ value: UInt32) throws { box.kind = .scalar(.init(String(value))) }
    mutating func encode(_ value: UInt64) throws { box.kind = .scalar(.init(String(value))) }
    mutating func encode<T: Encodable>(_ value: T) throws { try value.encode(to: encoder) }
}
