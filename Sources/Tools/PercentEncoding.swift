/// Percent-encoding (RFC 3986 section 2.1) for the pieces of a backend URL that come from
/// tool arguments. Only unreserved characters pass through, so an argument can never add a
/// path segment, a query parameter or a fragment the tool did not intend.
enum PercentEncoding {
    /// Encodes one path segment or one query key/value.
    static func encode(_ text: String) -> String { encode(bytes: text.utf8) }

    private static func encode(bytes: some Collection<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            if isUnreserved(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Encodes a path whose `/` separators are meaningful (a SilverBullet page in a folder),
    /// segment by segment. `.` and `..` segments are refused by the caller.
    ///
    /// Splits on the byte `/`, not on Characters: `/` followed by a combining mark is one
    /// Character, and encoding it inside a segment would give a `%2F` that a backend may
    /// decode into a separator. So no `%2F` is ever emitted.
    static func encodePath(_ path: String) -> String {
        path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            .map { encode(bytes: $0) }.joined(separator: "/")
    }

    static func query(_ items: [(String, String)]) -> String {
        items.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }

    private static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
}
