/// YAML 1.2 core-schema resolution of scalars, narrowed for configuration: booleans are
/// only `true`/`false` (never `yes`/`no`/`on`), integers are decimal only, floats finite.
/// Quoted scalars are always strings.
enum ScalarResolution {
    enum Resolved: Equatable {
        case null
        case bool(Bool)
        case int(String)
        case float(String)
        case string(String)

        var kindName: String {
            switch self {
            case .null: "null"
            case .bool: "boolean"
            case .int: "integer"
            case .float: "number"
            case .string: "string"
            }
        }
    }

    static func resolve(_ scalar: YAMLNode.Scalar) -> Resolved {
        let value = scalar.value
        switch scalar.tag {
        case .str?: return .string(value)
        case .null?: return .null
        case .bool?: return value == "true" ? .bool(true) : value == "false" ? .bool(false) : .string(value)
        case .int?: return isDecimalInteger(value) ? .int(value) : .string(value)
        case .float?: return isNumber(value) ? .float(value) : .string(value)
        case .seq?, .map?, nil: break
        }
        guard scalar.isPlain else { return .string(value) }
        switch value {
        case "", "~", "null", "Null", "NULL": return .null
        case "true": return .bool(true)
        case "false": return .bool(false)
        default: break
        }
        if isDecimalInteger(value) { return .int(value) }
        if isNumber(value) { return .float(value) }
        return .string(value)
    }

    /// `[-+]?[0-9]+`
    static func isDecimalInteger(_ text: String) -> Bool {
        var utf8 = Substring(text).utf8
        if let first = utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") { utf8 = utf8.dropFirst() }
        return !utf8.isEmpty && utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// A finite decimal number (`1.5`, `-2e3`, `.5`); no hex floats, no `inf`/`nan`.
    static func isNumber(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.contains(where: { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return false }
        let allowed = Set("0123456789+-.eE".utf8)
        guard text.utf8.allSatisfy({ allowed.contains($0) }), let number = Double(text) else { return false }
        return number.isFinite
    }

    /// What an error says was found; secrets show only their kind.
    static func describe(_ node: YAMLNode, secret: Bool) -> String {
        switch node.kind {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case let .scalar(scalar):
            let resolved = resolve(scalar)
            if secret, resolved != .null { return "<redacted \(resolved.kindName)>" }
            switch resolved {
            case .null: return "null"
            case let .bool(value): return "boolean \(value)"
            case let .int(text): return "integer \(shorten(text))"
            case let .float(text): return "number \(shorten(text))"
            case let .string(text): return "string \(quote(text))"
            }
        }
    }

    static func shorten(_ text: String) -> String {
        text.count > 64 ? String(text.prefix(64)) + "..." : text
    }

    /// A double-quoted, escaped rendering that is also valid YAML.
    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    result += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
