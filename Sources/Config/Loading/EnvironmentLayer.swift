/// `APP_<SECTION>__<KEY>=value` -> `section.key: value`. Double underscore nests, names are
/// lower-cased (`APP_SERVER__API_TOKEN` -> `server.api_token`). Every `APP_` variable must
/// name a known key: a typo fails loudly instead of being ignored.
enum EnvironmentLayer {
    static let prefix = "APP_"

    static func tree(from environment: [String: String]) throws(ConfigError) -> YAMLNode {
        var root = YAMLNode.emptyMapping(origin: .defaults)
        /// Names differing only in case set the same key: refused, as a file's duplicate key
        /// is, rather than letting the sort order decide which one wins.
        var seen: [[String]: String] = [:]
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(prefix) {
            let origin = ConfigOrigin.environment(variable: name)
            let path = components(of: String(name.dropFirst(prefix.count)))
            guard path.allSatisfy(isKeyName) else {
                throw ConfigError(
                    origin: origin, path: "",
                    expected: "APP_<SECTION>__<KEY> with letters, digits and single underscores", found: "a malformed name"
                )
            }
            if let other = seen.updateValue(name, forKey: path) {
                throw ConfigError(origin: origin, path: ConfigKeyPath.render(path),
                                  expected: "one variable per key", found: "\(other) as well")
            }
            try OverrideLayer.refuseControlCharacters(in: value, at: path, origin: origin)
            try YAMLTreeMerge.set(OverrideLayer.scalar(value, origin: origin), at: path, in: &root)
        }
        return root
    }

    /// Splits on `__` and lower-cases.
    static func components(of name: String) -> [String] {
        var result: [String] = []
        var current = ""
        var rest = Substring(name)
        while !rest.isEmpty {
            if rest.hasPrefix("__") {
                result.append(current)
                current = ""
                rest = rest.dropFirst(2)
            } else {
                current.append(contentsOf: rest.first!.lowercased())
                rest = rest.dropFirst()
            }
        }
        result.append(current)
        return result
    }

    /// `[a-z0-9_]+`, not starting or ending with `_`.
    static func isKeyName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix("_") && !name.hasSuffix("_") && name.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "_")
        }
    }
}
