/// Caps applied to every configuration document before and while it is parsed.
public struct YAMLLimits: Sendable, Equatable {
    /// The largest document accepted, checked before libyaml sees a byte.
    public var maxBytes: Int
    /// The deepest nesting of sequences and mappings, checked event by event, so a
    /// `[[[[...` document is refused long before it is built.
    public var maxDepth: Int

    public init(maxBytes: Int = 1 << 20, maxDepth: Int = 64) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }
}
