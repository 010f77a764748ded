#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as integers, parsed strictly with `inet_pton`.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) are normalised to IPv4 on
/// parsing: a dual-stack socket reports IPv4 clients that way, and they must share a key and a
/// CIDR match with the same client seen over an IPv4 socket.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(high: UInt64, low: UInt64)

    /// Longest textual address accepted (an IPv6 with an embedded IPv4 is 45 characters; zone
    /// identifiers are stripped first). Anything longer is rejected without parsing.
    public static let maxTextLength = 64

    /// Parses `192.0.2.1`, `2001:db8::1`, `::ffff:192.0.2.1` or `fe80::1%eth0` (the zone is
    /// dropped). Surrounding brackets and ports are NOT accepted here; see `TrustedProxies`.
    /// Inlinable so callers get it specialized: through `StringProtocol`'s witness tables
    /// each byte was a dynamic call (1 % of a request's CPU, for the client address).
    @inlinable
    public init?(_ text: some StringProtocol) {
        // Work on bytes: Character-level String operations cost more than inet_pton itself.
        var bytes = [CChar]()
        bytes.reserveCapacity(Self.maxTextLength + 1)
        var colon = false
        for byte in text.utf8 {
            // inet_pton reads a C string: an embedded NUL would hide the rest of the text.
            guard byte > 0x20, byte < 0x7F, bytes.count < Self.maxTextLength else { return nil }
            if byte == UInt8(ascii: "%") { break }  // zone identifier (`fe80::1%eth0`): dropped
            if byte == UInt8(ascii: ":") { colon = true }
            bytes.append(CChar(bitPattern: byte))
        }
        guard !bytes.isEmpty, bytes.count < text.utf8.count ? colon : true else { return nil }
        bytes.append(0)
        if !colon {
            var v4 = in_addr()
            guard inet_pton(AF_INET, bytes, &v4) == 1 else { return nil }
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, bytes, &v6) == 1 else { return nil }
        let high = withUnsafeBytes(of: &v6) { raw in raw.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        let low = withUnsafeBytes(of: &v6) { raw in raw.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        if high == 0, low >> 32 == 0xFFFF {
            self = .v4(UInt32(truncatingIfNeeded: low))
        } else {
            self = .v6(high: high, low: low)
        }
    }

    /// From raw network-order bytes: 4 (IPv4) or 16 (IPv6), e.g. `sin_addr` / `sin6_addr`.
    public init?(bytes: some Collection<UInt8>) {
        let bytes = Array(bytes)
        switch bytes.count {
        case 4:
            self = .v4(Self.bigEndianInteger(bytes[0..<4]))
        case 16:
            let high: UInt64 = Self.bigEndianInteger(bytes[0..<8])
            let low: UInt64 = Self.bigEndianInteger(bytes[8..<16])
            if high == 0, low >> 32 == 0xFFFF {
                self = .v4(UInt32(truncatingIfNeeded: low))
            } else {
                self = .v6(high: high, low: low)
            }
        default:
            return nil
        }
    }

    private static func bigEndianInteger<T: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>) -> T {
        bytes.reduce(T.zero) { ($0 << 8) | T($1) }
    }

    public var description: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
        case .v6(let high, let low):
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { buffer in
                for index in 0..<8 {
                    buffer[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * index))
                    buffer[8 + index] = UInt8(truncatingIfNeeded: low >> (56 - 8 * index))
                }
            }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil else { return "?" }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
