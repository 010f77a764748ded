/// Extracts the token from an `Authorization: Bearer <token>` header value (RFC 6750 §2.1).
///
/// Grammar: `credentials = "Bearer" 1*SP b64token`, with
/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
/// The scheme is case-insensitive (RFC 9110 §11.1). Leading and trailing spaces/tabs (field
/// OWS) are ignored. The length is checked before anything else, so an oversized header costs
/// one comparison.
public enum BearerCredentialParser {
    /// Default cap on the header value, in bytes.
    public static let defaultMaxLength = 4096

    public static func parse(headerValue: String?, maxLength: Int = defaultMaxLength) -> Result<[UInt8], AuthFailure> {
        guard let headerValue else { return .failure(.missing) }
        // utf8.count is O(1) for native strings: refuse before making anything contiguous.
        guard headerValue.utf8.count <= maxLength else { return .failure(.tooLong) }
        var value = headerValue
        return value.withUTF8 { parse(bytes: $0, maxLength: maxLength) }
    }

    public static func parse(bytes: UnsafeBufferPointer<UInt8>, maxLength: Int = defaultMaxLength) -> Result<[UInt8], AuthFailure> {
        guard bytes.count <= maxLength else { return .failure(.tooLong) }
        var start = 0
        var end = bytes.count
        while start < end, isWhitespace(bytes[start]) { start += 1 }
        while end > start, isWhitespace(bytes[end - 1]) { end -= 1 }
        guard start < end else { return .failure(.missing) }

        let scheme: StaticString = "bearer"
        let schemeLength = scheme.utf8CodeUnitCount
        guard end - start > schemeLength else { return .failure(.malformed) }
        for offset in 0..<schemeLength where bytes[start + offset] | 0x20 != scheme.utf8Start[offset] {
            return .failure(.malformed)
        }
        var index = start + schemeLength
        guard bytes[index] == 0x20 else { return .failure(.malformed) }
        while index < end, bytes[index] == 0x20 { index += 1 }

        let tokenStart = index
        while index < end, isToken68Character(bytes[index]) { index += 1 }
        guard index > tokenStart else { return .failure(.malformed) }
        while index < end, bytes[index] == UInt8(ascii: "=") { index += 1 }
        guard index == end else { return .failure(.malformed) }
        return .success(Array(bytes[tokenStart..<end]))
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    private static func isToken68Character(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
             UInt8(ascii: "+"), UInt8(ascii: "/"):
            return true
        default:
            return false
        }
    }
}
