/// `--set key.path=value` flags; the value is a YAML plain scalar (lists as `a,b,c`).
/// Error positions repeat the flag, with the value masked when the key is a secret.
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
                throw ConfigError(origin: origin, path: "", expected: "a dotted path of snake_case keys", found: "a malformed key path")
            }
            try YAMLTreeMerge.set(.scalar(value, origin: origin), at: path, in: &root)
        }
        return root
    }
}
