/// Loads `AppConfig` from its layers, lowest first:
///
/// 1. the embedded defaults (`AppConfig()`),
/// 2. `<directory>/base.yaml` (optional),
/// 3. `<directory>/<env>.yaml` with `env` from the argument, else `ENV`, else `dev` (optional),
/// 4. `APP_<SECTION>__<KEY>` environment variables (`__` nests, names lower-cased,
///    values read as YAML plain scalars, lists as `a,b,c`),
/// 5. `--set key.path=value` overrides.
///
/// The layers are merged as YAML trees (mappings merge key by key; scalars and lists
/// replace) and decoded once, so every error names the layer that set the bad value.
public enum ConfigLoader {
    /// Loads from files in `directory`. `environment` is injected (pass the process
    /// environment in production, a dictionary in tests).
    public static func load(
        directory: String = "config",
        env: String? = nil,
        environment: [String: String],
        overrides: [String] = [],
        limits: YAMLLimits = YAMLLimits()
    ) throws(ConfigError) -> AppConfig {
        let name = try environmentName(explicit: env, environment: environment)
        var layers: [YAMLNode] = []
        for file in ["\(directory)/base.yaml", "\(directory)/\(name).yaml"] {
            guard let bytes = try ConfigFileReader.contents(of: file, maxBytes: limits.maxBytes) else { continue }
            layers.append(try documentRoot(YAMLParser.parse(bytes: bytes, file: file, limits: limits)))
        }
        return try build(fileLayers: layers, environment: environment, overrides: overrides)
    }

    /// Loads one YAML document as the only file layer (tests, `--config -`).
    public static func load(
        yaml: String,
        file: String = "<yaml>",
        environment: [String: String] = [:],
        overrides: [String] = [],
        limits: YAMLLimits = YAMLLimits()
    ) throws(ConfigError) -> AppConfig {
        let root = try documentRoot(YAMLParser.parse(yaml, file: file, limits: limits))
        return try build(fileLayers: [root], environment: environment, overrides: overrides)
    }

    /// The environment name: `--env`, else `ENV`, else `dev`. It becomes part of a path,
    /// so only letters, digits, `-` and `_` are accepted. An empty `ENV` is unset, as the Go
    /// server read it (`ENV: ${ENV}` in a compose file, with nothing set, refused to start).
    static func environmentName(explicit: String?, environment: [String: String]) throws(ConfigError) -> String {
        let (name, origin): (String, ConfigOrigin) =
            if let explicit { (explicit, .flag("--env \(explicit)")) }
            else if let value = environment["ENV"], !value.isEmpty { (value, .environment(variable: "ENV")) }
            else { ("dev", .defaults) }
        let valid = !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z"))
                || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
        }
        guard valid else {
            throw ConfigError(
                origin: origin, path: "",
                expected: "an environment name of letters, digits, '-' or '_'", found: "string \(ScalarResolution.quote(ScalarResolution.shorten(name)))"
            )
        }
        return name
    }

    /// A file's top level is a mapping of sections; an empty document is an empty mapping.
    static func documentRoot(_ node: YAMLNode) throws(ConfigError) -> YAMLNode {
        switch node.kind {
        case .mapping:
            return node
        case let .scalar(scalar) where ScalarResolution.resolve(scalar) == .null:
            return .emptyMapping(origin: node.origin)
        default:
            throw ConfigError(origin: node.origin, path: "", expected: "a mapping of sections", found: ScalarResolution.describe(node, secret: false))
        }
    }

    static func build(fileLayers: [YAMLNode], environment: [String: String], overrides: [String]) throws(ConfigError) -> AppConfig {
        let defaults = defaultsTree
        var merged = defaults
        for layer in fileLayers {
            merged = YAMLTreeMerge.merge(merged, layer)
        }
        merged = YAMLTreeMerge.merge(merged, try EnvironmentLayer.tree(from: environment))
        merged = YAMLTreeMerge.merge(merged, try OverrideLayer.tree(from: overrides))
        try KnownKeys.check(merged, against: defaults)
        let config = try YAMLNodeDecoder.decode(AppConfig.self, from: merged)
        try config.validate(against: merged)
        return config
    }

    /// The embedded defaults as a tree: `AppConfig()` encoded.
    static var defaultsTree: YAMLNode {
        (try? YAMLNodeEncoder.encode(AppConfig())) ?? .emptyMapping(origin: .defaults)
    }
}
