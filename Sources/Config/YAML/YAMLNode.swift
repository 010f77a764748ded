/// Where a configuration value came from, so that every error can point at the layer
/// (and, for files, the line and column) that set it.
public enum ConfigOrigin: Sendable, Hashable, CustomStringConvertible {
    /// The embedded defaults compiled into the binary.
    case defaults
    /// A YAML file; `line` and `column` are 1-based.
    case file(name: String, line: Int, column: Int)
    /// An `APP_<SECTION>__<KEY>` environment variable (the name only, never the value).
    case environment(variable: String)
    /// A `--set key.path=value` flag, already redacted when the key is a secret.
    case flag(String)

    public var description: String {
        switch self {
        case .defaults: "<defaults>"
        case let .file(name, line, column): "\(name):\(line):\(column)"
        case let .environment(variable): "env \(variable)"
        case let .flag(text): text
        }
    }

    /// The origin with a flag's value masked (`--set grafana.tokne=<redacted>`), for errors
    /// about a key that is not known: its value may be a secret under a mistyped name. The
    /// other origins never carry a value.
    var redactingValue: ConfigOrigin {
        guard case let .flag(text) = self, let equals = text.firstIndex(of: "=") else { return self }
        return .flag(text[...equals] + "<redacted>")
    }

    /// Values from the environment and from flags are single strings: a list there is
    /// written as a comma-separated string.
    var isCommandLineLike: Bool {
        switch self {
        case .environment, .flag: true
        case .defaults, .file: false
        }
    }
}

/// One node of a YAML document: the tree the libyaml event stream is turned into, and the
/// unit the configuration layers merge on before a single decode.
public struct YAMLNode: Sendable, Equatable {
    /// A scalar as written, with enough of its syntax to resolve its type later
    /// (`true` is a boolean, `"true"` is a string).
    public struct Scalar: Sendable, Equatable {
        public var value: String
        /// Plain (unquoted, not a block scalar): only plain scalars resolve to
        /// null/bool/int/float under the YAML 1.2 core schema.
        public var isPlain: Bool
        /// An explicit core tag (`!!str`, `!!int`, ...), if any.
        public var tag: CoreTag?

        public init(_ value: String, isPlain: Bool = true, tag: CoreTag? = nil) {
            self.value = value
            self.isPlain = isPlain
            self.tag = tag
        }
    }

    /// The YAML 1.2 core schema tags: the only tags accepted.
    public enum CoreTag: String, Sendable, Equatable {
        case str = "tag:yaml.org,2002:str"
        case int = "tag:yaml.org,2002:int"
        case bool = "tag:yaml.org,2002:bool"
        case float = "tag:yaml.org,2002:float"
        case null = "tag:yaml.org,2002:null"
        case seq = "tag:yaml.org,2002:seq"
        case map = "tag:yaml.org,2002:map"
    }

    /// A mapping entry; keys are always scalars (anything else is refused at parse time).
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var keyOrigin: ConfigOrigin
        public var value: YAMLNode

        public init(key: String, keyOrigin: ConfigOrigin, value: YAMLNode) {
            self.key = key
            self.keyOrigin = keyOrigin
            self.value = value
        }
    }

    public enum Kind: Sendable, Equatable {
        case scalar(Scalar)
        case sequence([YAMLNode])
        /// Entries in document order; keys are unique.
        case mapping([Entry])
    }

    public var kind: Kind
    public var origin: ConfigOrigin

    public init(_ kind: Kind, origin: ConfigOrigin) {
        self.kind = kind
        self.origin = origin
    }

    public static func scalar(_ value: String, plain: Bool = true, origin: ConfigOrigin) -> YAMLNode {
        YAMLNode(.scalar(Scalar(value, isPlain: plain)), origin: origin)
    }

    /// An empty mapping: what an empty document means.
    public static func emptyMapping(origin: ConfigOrigin) -> YAMLNode {
        YAMLNode(.mapping([]), origin: origin)
    }

    /// The value under `key` when this node is a mapping.
    public subscript(key: String) -> YAMLNode? {
        guard case let .mapping(entries) = kind else { return nil }
        return entries.first { $0.key == key }?.value
    }

    /// The node at a path of mapping keys and sequence indices (`["auth", "tokens", "0"]`).
    public func node(at path: [String]) -> YAMLNode? {
        var current = self
        for component in path {
            switch current.kind {
            case .mapping:
                guard let next = current[component] else { return nil }
                current = next
            case let .sequence(items):
                guard let index = Int(component), items.indices.contains(index) else { return nil }
                current = items[index]
            case .scalar:
                return nil
            }
        }
        return current
    }
}
