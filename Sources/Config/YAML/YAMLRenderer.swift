/// Writes a `YAMLNode` tree back as block-style YAML that `YAMLParser` reads again:
/// strings double-quoted and escaped, other scalars plain, two-space indentation.
/// With `redacted`, every non-empty value under a secret key prints as `"***"`.
enum YAMLRenderer {
    static func render(_ node: YAMLNode, redacted: Bool) -> String {
        var output = ""
        switch node.kind {
        case let .mapping(entries) where !entries.isEmpty:
            writeEntries(entries, indent: 0, path: [], redacted: redacted, into: &output)
        default:
            output = inline(node, path: [], redacted: redacted) + "\n"
        }
        return output
    }

    private static func writeEntries(_ entries: [YAMLNode.Entry], indent: Int, path: [String], redacted: Bool, into output: inout String) {
        let pad = String(repeating: " ", count: indent)
        for entry in entries {
            let childPath = path + [entry.key]
            output += pad + key(entry.key) + ":"
            write(entry.value, indent: indent, path: childPath, redacted: redacted, into: &output)
        }
    }

    /// Writes a value after `key:` or `-` (the caller wrote those, without a newline).
    private static func write(_ node: YAMLNode, indent: Int, path: [String], redacted: Bool, into output: inout String) {
        switch node.kind {
        case let .mapping(entries) where !entries.isEmpty:
            output += "\n"
            writeEntries(entries, indent: indent + 2, path: path, redacted: redacted, into: &output)
        case let .sequence(items) where !items.isEmpty:
            output += "\n"
            let pad = String(repeating: " ", count: indent + 2)
            for (index, item) in items.enumerated() {
                let itemPath = path + [String(index)]
                if case let .mapping(entries) = item.kind, !entries.isEmpty {
                    // "- first: x" then the other keys aligned under "first".
                    var nested = ""
                    writeEntries(entries, indent: indent + 4, path: itemPath, redacted: redacted, into: &nested)
                    output += pad + "- " + nested.dropFirst(indent + 4)
                } else {
                    output += pad + "-"
                    write(item, indent: indent + 2, path: itemPath, redacted: redacted, into: &output)
                }
            }
        default:
            output += " " + inline(node, path: path, redacted: redacted) + "\n"
        }
    }

    private static func inline(_ node: YAMLNode, path: [String], redacted: Bool) -> String {
        switch node.kind {
        case .mapping: return "{}"
        case .sequence: return "[]"
        case let .scalar(scalar):
            if redacted, ConfigKeyPath.isSecret(path), !scalar.value.isEmpty { return "\"***\"" }
            let resolved = ScalarResolution.resolve(YAMLNode.Scalar(scalar.value))
            if scalar.isPlain, resolved != .string(scalar.value) { return scalar.value }
            // Strings that read back as the same string stay unquoted: 30s, 127.0.0.1.
            if resolved == .string(scalar.value), isPlainSafe(scalar.value) { return scalar.value }
            return ScalarResolution.quote(scalar.value)
        }
    }

    private static func key(_ name: String) -> String {
        let safe = !name.isEmpty && name.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "_")
        }
        return safe ? name : ScalarResolution.quote(name)
    }

    /// Letters, digits, `.`, `_`, `-`, `/`, starting with a letter or digit, and not a
    /// word YAML 1.1 tools would read as a boolean or null (`off`, `yes`, ...).
    private static func isPlainSafe(_ text: String) -> Bool {
        if ["y", "n", "yes", "no", "on", "off", "true", "false", "null"].contains(text.lowercased()) { return false }
        guard let first = text.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic || ("0"..."9").contains(first) else {
            return false
        }
        return text.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "." || $0 == "_" || $0 == "-" || $0 == "/")
        }
    }
}
