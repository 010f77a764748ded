/// Finds keys the schema does not have, before decoding, and suggests the nearest known
/// key (`server.prot: expected a known key (did you mean "port"?), found unknown key "prot"`).
/// The embedded defaults tree is the schema: every key exists there with its default.
/// (List items such as `auth.tokens[0]` have no defaults; the decoder checks those.)
enum KnownKeys {
    static func check(_ node: YAMLNode, against schema: YAMLNode, path: [String] = []) throws(ConfigError) {
        guard case let .mapping(entries) = node.kind, case let .mapping(known) = schema.kind else { return }
        var index: [String: YAMLNode] = [:]
        for entry in known { index[entry.key] = entry.value }
        for entry in entries {
            guard let schemaChild = index[entry.key] else {
                let suggestion = nearest(entry.key, in: known.map(\.key)).map { " (did you mean \"\($0)\"?)" } ?? ""
                // Its value is not shown: a mistyped secret key is no secret by name.
                throw ConfigError(
                    origin: entry.keyOrigin.redactingValue, path: ConfigKeyPath.render(path + [entry.key]),
                    expected: "a known key" + suggestion,
                    found: "unknown key \(ScalarResolution.quote(ScalarResolution.shorten(entry.key)))"
                )
            }
            try check(entry.value, against: schemaChild, path: path + [entry.key])
        }
    }

    /// The closest known key within edit distance 1 (names under 6 characters) or 2
    /// (insertions, deletions, substitutions, swaps of neighbours); nil when none is close.
    static func nearest(_ name: String, in candidates: [String]) -> String? {
        guard name.utf8.count <= 64 else { return nil }
        let limit = name.count < 6 ? 1 : 2
        let ranked = candidates.map { ($0, distance(name.lowercased(), $0)) }.filter { $0.1 <= limit }
        return ranked.min { $0.1 < $1.1 }?.0
    }

    /// Optimal string alignment distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var best = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    best = min(best, table[i - 2][j - 2] + 1)
                }
                table[i][j] = best
            }
        }
        return table[a.count][b.count]
    }
}
