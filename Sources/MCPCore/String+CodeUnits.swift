extension String {
    /// Whether the two strings hold the same UTF-8 code units. Swift's `==` takes canonically
    /// equivalent strings as equal ("\u{212A}" KELVIN SIGN is "K"); JSON names (RFC 8259 §8.3)
    /// and the header values checked against a body must match exactly, or a name that
    /// another parser or a proxy sees as distinct would be read as this one.
    /// `==` first: equal code units are canonically equivalent too, and for two different
    /// keys (most comparisons) its compare of the bytes is the quicker no.
    @inlinable
    public func hasSameCodeUnits(as other: String) -> Bool {
        utf8.count == other.utf8.count && self == other && utf8.elementsEqual(other.utf8)
    }
}
