/// A duration written the Go way: `250ms`, `30s`, `5m`, `1h`, `1h30m`, or a bare `0`.
///
/// Whole numbers of a unit only (no `1.5h`): exact, and easy to read back. Stored in
/// milliseconds; anything up to 365 days is accepted, so arithmetic never overflows.
public struct ConfigDuration: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var milliseconds: Int64

    /// The largest accepted duration (365 days).
    public static let maximum = ConfigDuration(milliseconds: 365 * 86_400_000)

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }
    public static func seconds(_ value: Int64) -> ConfigDuration { .init(milliseconds: value * 1000) }
    public static func minutes(_ value: Int64) -> ConfigDuration { .init(milliseconds: value * 60_000) }
    public static func hours(_ value: Int64) -> ConfigDuration { .init(milliseconds: value * 3_600_000) }

    public var isZero: Bool { milliseconds == 0 }
    /// As a Swift `Duration` for clocks and timeouts.
    public var duration: Duration { .milliseconds(milliseconds) }
    public var seconds: Double { Double(milliseconds) / 1000 }

    public static func < (lhs: ConfigDuration, rhs: ConfigDuration) -> Bool { lhs.milliseconds < rhs.milliseconds }

    static let units: [(suffix: String, milliseconds: Int64)] = [("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]

    /// Parses `30s`, `1h30m`, `250ms`, `0`; nil for anything else (negative, fractional,
    /// unit-less non-zero, unknown unit, over `maximum`).
    public init?(parsing text: String) {
        if text == "0" {
            self.milliseconds = 0
            return
        }
        var rest = Substring(text)
        var total: Int64 = 0
        guard !rest.isEmpty, rest.utf8.count <= 32 else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 12, let amount = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let unit = Self.units.first(where: { rest.hasPrefix($0.suffix) }) else { return nil }
            rest = rest.dropFirst(unit.suffix.count)
            let (product, overflow) = amount.multipliedReportingOverflow(by: unit.milliseconds)
            guard !overflow else { return nil }
            total += product
            guard total <= Self.maximum.milliseconds else { return nil }
        }
        self.milliseconds = total
    }

    /// The shortest exact spelling in one unit: `90m`, `30s`, `250ms`, `0s`.
    public var description: String {
        if milliseconds == 0 { return "0s" }
        for (suffix, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)] where milliseconds % size == 0 {
            return "\(milliseconds / size)\(suffix)"
        }
        return "\(milliseconds)ms"
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = ConfigDuration(parsing: text) else {
            throw ConfigValueError(expected: "a duration such as 250ms, 30s, 5m, 1h or 0 (at most 365 days)")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
