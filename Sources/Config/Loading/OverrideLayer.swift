/// `--set key.path=value` flags; the value is a YAML plain scalar (lists as `a,b,c`).
/// Error positions repeat the flag, with the value masked when the key is a secret or not
/// a known key (``ConfigOrigin/redactingValue``).
enum OverrideLayer {
    static func tree(from overrides: [String]) throws(ConfigError) -> YAMLNode {
        var root = YAMLNode.emptyMapping(origin: .defaults)
        for override in overrides {
            guard let equals = override.firstIndex(of: "=") else {
                throw ConfigError(origin: .flag("--set \(override)"), path: "", expected: "key.path=value", found: "no '='")
            }
            let key = String(override[..<equals])
            let value = String(override[override.index(after: equals)...])
            let path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let shown = ConfigKeyPath.isSecret(path) ? "<redacted>" : value
            let origin = ConfigOrigin.flag("--set \(key)=\(shown)")
            guard path.allSatisfy(EnvironmentLayer.isKeyName) else {
                // No known key, so perhaps a secret's (`Grafana.Token`): the value is not shown.
                throw ConfigError(origin: origin.redactingValue, path: "", expected: "a dotted path of snake_case keys", found: "a malformed key path")
            }
            // The refused value is never shown: it may be a URL with credentials, and its
            // control characters could drive the terminal that prints the error.
            try refuseControlCharacters(in: value, at: path, origin: .flag("--set \(key)=<redacted>"))
            try YAMLTreeMerge.set(scalar(value, origin: origin), at: path, in: &root)
        }
        return root
    }

    /// A value of this layer or the environment's as a node: a YAML plain scalar (`true`
    /// and `5` keep their kinds), except that an empty value is the empty string, not
    /// YAML's null: a variable has no null, and `APP_GRAFANA__URL=` meant "no URL" to the
    /// Go server's koanf too.
    static func scalar(_ value: String, origin: ConfigOrigin) -> YAMLNode {
        .scalar(value, plain: !value.isEmpty, origin: origin)
    }

    /// The file layer's rule (YAMLParser: "printable text") for the values of the flag and
    /// environment layers, so no layer lets a control character into a path, a log line or
    /// the rendered config (found by fuzz/targets/config_layers.swift). Names the code point,
    /// never the value.
    static func refuseControlCharacters(in value: String, at path: [String], origin: ConfigOrigin) throws(ConfigError) {
        guard let scalar = value.unicodeScalars.first(where: { YAMLParser.isControl($0.value) }) else { return }
        throw ConfigError(
            origin: origin, path: path.joined(separator: "."),
            expected: "printable text", found: "control character U+\(String(scalar.value, radix: 16, uppercase: true))"
        )
    }
}
