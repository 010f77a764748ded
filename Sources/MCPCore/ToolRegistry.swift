/// The tools a server offers, in a fixed order (2026-07-28 server/tools.mdx asks for a
/// deterministic `tools/list` so clients can cache it). Immutable: built once at start.
public struct ToolRegistry: Sendable {
    public private(set) var tools: [ToolDefinition]
    private var index: [String: Int]
    /// Each tool's `tools/list` entry, built once: a listing is a few nested objects per
    /// tool, and the full catalogue has about fifty.
    private var listings: [JSONValue]

    public init(_ tools: [ToolDefinition]) {
        var unique: [ToolDefinition] = []
        var index: [String: Int] = [:]
        for tool in tools where index[tool.name] == nil {
            index[tool.name] = unique.count
            unique.append(tool)
        }
        self.tools = unique
        self.index = index
        // Serialized once: a `tools/list` answer is mostly these entries, written as they are.
        self.listings = unique.map { tool in
            if case .object(let object) = tool.listing { .object(object.preserialized()) } else { tool.listing }
        }
    }

    /// The `tools/list` entry of a registered tool.
    public func listing(of tool: ToolDefinition) -> JSONValue {
        index[tool.name].map { listings[$0] } ?? tool.listing
    }

    public var count: Int { tools.count }

    /// How many tools a caller sees in `tools/list` (a read-only one: those that do not write).
    public func count(allowsWrites: Bool) -> Int {
        allowsWrites ? tools.count : tools.reduce(0) { $0 + ($1.writes ? 0 : 1) }
    }

    public func tool(named name: String) -> ToolDefinition? {
        index[name].map { tools[$0] }
    }

    /// The registry after the server-wide tool switches: `enabled` (empty = all) and
    /// `disabled` name lists, and read-only mode, which hides every tool that writes.
    public func filtered(readOnly: Bool, enabled: [String] = [], disabled: [String] = []) -> ToolRegistry {
        let enabledSet = Set(enabled), disabledSet = Set(disabled)
        return ToolRegistry(tools.filter { tool in
            (enabledSet.isEmpty || enabledSet.contains(tool.name))
                && !disabledSet.contains(tool.name)
                && !(readOnly && tool.writes)
        })
    }

    public func adding(_ more: [ToolDefinition]) -> ToolRegistry {
        ToolRegistry(tools + more)
    }

    /// One page of the tools a caller may see. The cursor is opaque to clients
    /// (2025-11-25 server/utilities/pagination.mdx); an unreadable one is invalid params.
    public func page(cursor: String?, pageSize: Int, allowsWrites: Bool) throws(PageError) -> (tools: [ToolDefinition], nextCursor: String?) {
        let visible = allowsWrites ? tools : tools.filter { !$0.writes }
        var start = 0
        if let cursor {
            guard let offset = Self.decodeCursor(cursor), offset > 0, offset < visible.count else {
                throw PageError()
            }
            start = offset
        }
        let end = min(visible.count, start + max(1, pageSize))
        let next = end < visible.count ? Self.encodeCursor(end) : nil
        return (Array(visible[start..<end]), next)
    }

    public struct PageError: Error, Sendable {}

    static func encodeCursor(_ offset: Int) -> String {
        Base64URL.encode(Array("tools:\(offset)".utf8))
    }

    static func decodeCursor(_ cursor: String) -> Int? {
        guard cursor.utf8.count <= 64, let bytes = Base64URL.decode(cursor) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("tools:") else { return nil }
        return Int(text.dropFirst(6))
    }
}

/// Unpadded base64url (RFC 4648 §5), enough for cursors and session ids.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int((n >> UInt32(shift)) & 63)]) }
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            var n = UInt32(bytes[i]) << 16
            if rest == 2 { n |= UInt32(bytes[i + 1]) << 8 }
            out.append(alphabet[Int((n >> 18) & 63)])
            out.append(alphabet[Int((n >> 12) & 63)])
            if rest == 2 { out.append(alphabet[Int((n >> 6) & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(c - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(c - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "_"): values.append(63)
            default: return nil
            }
        }
        if values.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < values.count {
            let chunk = values[i..<min(i + 4, values.count)]
            var n: UInt32 = 0
            for (k, v) in chunk.enumerated() { n |= UInt32(v) << UInt32(18 - 6 * k) }
            let produced = chunk.count - 1
            for k in 0..<produced { out.append(UInt8((n >> UInt32(16 - 8 * k)) & 0xFF)) }
            i += 4
        }
        return out
    }
}
