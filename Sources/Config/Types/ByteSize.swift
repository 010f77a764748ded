/// A byte count: a plain integer (`65536`), or a whole number with a unit: binary
/// `KiB`/`MiB`/`GiB` (1024-based) or decimal `KB`/`MB`/`GB` (1000-based). `B` is bytes.
/// At most 1 TiB, so later arithmetic on it cannot overflow.
public struct ByteSize: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var bytes: Int

    public static let maximum = ByteSize(bytes: 1 << 40)

    public init(bytes: Int) { self.bytes = bytes }
    public static func kibibytes(_ value: Int) -> ByteSize { .init(bytes: value << 10) }
    public static func mebibytes(_ value: Int) -> ByteSize { .init(bytes: value << 20) }

    public static func < (lhs: ByteSize, rhs: ByteSize) -> Bool { lhs.bytes < rhs.bytes }

    static let units: [(suffix: String, factor: Int)] = [
        ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
        ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1),
    ]

    public init?(parsing text: String) {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 15, let amount = Int(digits) else { return nil }
        let suffix = text.dropFirst(digits.count)
        let factor: Int
        if suffix.isEmpty {
            factor = 1
        } else if let unit = Self.units.first(where: { $0.suffix == suffix }) {
            factor = unit.factor
        } else {
            return nil
        }
        let (total, overflow) = amount.multipliedReportingOverflow(by: factor)
        guard !overflow, total <= Self.maximum.bytes else { return nil }
        self.bytes = total
    }

    /// The exact spelling with the largest unit: `1MiB`, `64KB`, `1500`.
    public var description: String {
        if bytes == 0 { return "0" }
        for (suffix, factor) in Self.units where factor > 1 && bytes % factor == 0 {
            return "\(bytes / factor)\(suffix)"
        }
        return "\(bytes)"
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = ByteSize(parsing: text) else {
            throw ConfigValueError(expected: "a size such as 65536, 512KiB, 1MiB or 64KB (at most 1TiB)")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
