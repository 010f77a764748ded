/// A configuration choice with string values; decoding an unknown value names the
/// accepted ones (`expected one of json|console, found string "xml"`).
public protocol ConfigEnum: RawRepresentable, CaseIterable, Codable, Sendable, Hashable where RawValue == String {}

extension ConfigEnum {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: text) else {
            throw ConfigValueError(expected: "one of " + Self.allCases.map(\.rawValue).joined(separator: "|"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
