extension AppConfig {
    /// The effective configuration as YAML (every key, defaults included) for
    /// `check-config`. With `redacted` (the default) every non-empty secret prints as
    /// `"***"`. The output loads back to the same configuration when not redacted.
    public func rendered(redacted: Bool = true) -> String {
        guard let tree = try? YAMLNodeEncoder.encode(self) else { return "" }
        return YAMLRenderer.render(tree, redacted: redacted)
    }

    /// The embedded defaults as YAML, the content `config/base.yaml` documents.
    public static var defaultsYAML: String { AppConfig().rendered(redacted: false) }
}
