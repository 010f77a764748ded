/// Layer merging: mappings merge key by key (recursively), anything else replaces.
enum YAMLTreeMerge {
    static func merge(_ base: YAMLNode, _ overlay: YAMLNode) -> YAMLNode {
        guard case var .mapping(entries) = base.kind, case let .mapping(overlayEntries) = overlay.kind else {
            return overlay
        }
        var index: [String: Int] = [:]
        for (position, entry) in entries.enumerated() { index[entry.key] = position }
        for entry in overlayEntries {
            if let position = index[entry.key] {
                entries[position].value = merge(entries[position].value, entry.value)
                entries[position].keyOrigin = entry.keyOrigin
            } else {
                index[entry.key] = entries.count
                entries.append(entry)
            }
        }
        return YAMLNode(.mapping(entries), origin: base.origin == .defaults ? overlay.origin : base.origin)
    }

    /// Sets `path` to `value` inside the mapping `root`, creating mappings on the way; a
    /// scalar or list in the way is a conflict between two settings of the same layer.
    static func set(_ value: YAMLNode, at path: [String], in root: inout YAMLNode, parents: [String] = []) throws(ConfigError) {
        guard let first = path.first else { return }
        guard case var .mapping(entries) = root.kind else {
            // A key under a value is no known key, so its value is not shown.
            throw ConfigError(
                origin: value.origin.redactingValue, path: ConfigKeyPath.render(parents + path),
                expected: "a setting that does not conflict with another one", found: "a parent key set to a value"
            )
        }
        let position = entries.firstIndex { $0.key == first }
        var child = value
        if path.count > 1 {
            child = position.map { entries[$0].value } ?? .emptyMapping(origin: value.origin)
            try set(value, at: Array(path.dropFirst()), in: &child, parents: parents + [first])
        }
        if let position {
            entries[position].value = child
        } else {
            entries.append(.init(key: first, keyOrigin: value.origin, value: child))
        }
        root.kind = .mapping(entries)
    }
}
