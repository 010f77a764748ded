/// Key names and paths: snake_case in YAML, camelCase in Swift, and which keys are secrets.
enum ConfigKeyPath {
    /// `maxSseStreams` -> `max_sse_streams`.
    static func snakeCase(_ name: String) -> String {
        var result = ""
        result.reserveCapacity(name.utf8.count + 4)
        for character in name {
            if character.isUppercase {
                result.append("_")
                result.append(contentsOf: character.lowercased())
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// `max_sse_streams` -> `maxSseStreams`; only lower-case snake_case names map back
    /// exactly (the caller checks the round trip).
    static func camelCase(_ name: String) -> String {
        var result = ""
        var upperNext = false
        for character in name {
            if character == "_" {
                upperNext = true
            } else if upperNext {
                result.append(contentsOf: character.uppercased())
                upperNext = false
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// Renders `["auth", "tokens", "0", "name"]` as `auth.tokens[0].name`.
    static func render(_ components: [String]) -> String {
        var result = ""
        for full in components {
            // A hostile document can use a megabyte-long key: keep error lines short.
            let component = full.utf8.count > 64 ? String(full.prefix(64)) + "..." : full
            if let first = component.utf8.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") {
                result += "[\(component)]"
            } else {
                result += result.isEmpty ? component : ".\(component)"
            }
        }
        return result
    }

    /// A key is secret when its name is `token`, `password`, `key` or `secret`, or ends in
    /// `_token`, `_password`, `_key` or `_secret`; everything below a secret key is secret
    /// too. Its value is never printed.
    static func isSecret(_ components: [String]) -> Bool {
        components.contains { name in
            ["token", "password", "key", "secret"].contains { name == $0 || name.hasSuffix("_\($0)") }
        }
    }
}
