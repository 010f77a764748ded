/// A configuration error in one fixed, greppable form:
///
///     config/prod.yaml:12:9: server.port: expected an integer in 0...65535, found 70000
///     env APP_SERVER__PORT: server.port: expected an integer, found string "x"
///     --set server.port=x: server.port: expected an integer, found string "x"
///
/// Values of secret keys are never part of it (`found <redacted string>`).
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The layer and position that set the offending value.
    public var origin: ConfigOrigin
    /// The dotted key path (`auth.tokens[0].name`); empty for document-level errors.
    public var path: String
    public var expected: String
    public var found: String

    public init(origin: ConfigOrigin, path: String, expected: String, found: String) {
        self.origin = origin
        self.path = path
        self.expected = expected
        self.found = found
    }

    public var description: String {
        let location = path.isEmpty ? "\(origin)" : "\(origin): \(path)"
        return "\(location): expected \(expected), found \(found)"
    }
}

/// Thrown by a value type's `init(from:)` (durations, sizes, enums) when the scalar is of
/// the right kind but not a valid value; the decoder turns it into a `ConfigError` that
/// carries the origin, the key path and a redaction-aware description of what was found.
public struct ConfigValueError: Error, Sendable {
    public var expected: String

    public init(expected: String) {
        self.expected = expected
    }
}
