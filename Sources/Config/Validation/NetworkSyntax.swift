#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Syntax checks for network values in the configuration.
enum NetworkSyntax {
    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a single host).
    static func isCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return false }
        let address = String(parts[0])
        let bits: Int
        if isIPv4(address) {
            bits = 32
        } else if isIPv6(address) {
            bits = 128
        } else {
            return false
        }
        guard parts.count == 2 else { return true }
        let prefix = parts[1]
        guard !prefix.isEmpty, prefix.count <= 3, prefix.allSatisfy({ $0.isASCII && $0.isNumber }), let length = Int(prefix) else {
            return false
        }
        return length <= bits
    }

    /// As ``isCIDR(_:)``, and no bit below the prefix is set: `10.0.0.1/8` is almost always
    /// a typo, and as an allowlist entry it would be read as something else.
    static func isBlockWithoutHostBits(_ text: String) -> Bool {
        guard isCIDR(text) else { return false }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        var bytes = [UInt8](repeating: 0, count: 16)
        let family = isIPv4(String(parts[0])) ? AF_INET : AF_INET6
        guard inet_pton(family, String(parts[0]), &bytes) == 1 else { return false }
        let width = family == AF_INET ? 4 : 16
        var length = parts.count == 2 ? Int(parts[1]) ?? 0 : width * 8
        // ::ffff:a.b.c.d/104 is the IPv4 block a.b.c.d/8; its bits count the same way.
        for index in 0..<width {
            let kept = max(0, min(8, length))
            length -= 8
            if bytes[index] & ~UInt8(truncatingIfNeeded: 0xFF00 >> kept) != 0 { return false }
        }
        return true
    }

    static func isIPv4(_ text: String) -> Bool {
        var storage = in_addr()
        return inet_pton(AF_INET, text, &storage) == 1
    }

    static func isIPv6(_ text: String) -> Bool {
        var storage = in6_addr()
        return inet_pton(AF_INET6, text, &storage) == 1
    }

    /// `127.0.0.0/8`, `::1` and `localhost`: addresses only this machine can reach.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        return isIPv4(host) && host.hasPrefix("127.")
    }

    /// An absolute `http://` or `https://` URL with a host.
    static func isHTTPURL(_ text: String) -> Bool {
        for scheme in ["http://", "https://"] where text.lowercased().hasPrefix(scheme) {
            let rest = text.dropFirst(scheme.count)
            let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            return !authority.isEmpty && !authority.contains(where: { $0 == " " || $0.isNewline })
        }
        return false
    }

    /// A host name glob: letters, digits, `-`, `_`, `.`, `*` and `?`, at most 253 bytes. One
    /// of only digits, dots and wildcards (`10.0.0.*`) would be meant for addresses, which it
    /// never matches: those take an address block.
    static func isHostGlob(_ text: String) -> Bool {
        let numeric = text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") }
        guard !numeric || !text.utf8.contains(where: { $0 >= 48 && $0 <= 57 }) else { return false }
        return (1...253).contains(text.utf8.count) && text.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || [UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "*"), UInt8(ascii: "?")].contains(byte)
        }
    }

    /// A host name without wildcards (a glob that matches only itself), not all digits and dots.
    static func isHostName(_ text: String) -> Bool {
        isHostGlob(text) && !text.contains("*") && !text.contains("?")
    }

    /// Whether a URL (with or without its scheme) carries user info, a query or a
    /// fragment. Backend URLs refuse all three: credentials belong in the masked token and
    /// password settings, and the URL text is not treated as a secret.
    static func hasUserInfoQueryOrFragment(_ text: String) -> Bool {
        var rest = Substring(text)
        for scheme in ["http://", "https://"] where text.lowercased().hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        if rest.contains(where: { $0 == "?" || $0 == "#" }) { return true }
        return rest.prefix { $0 != "/" }.contains("@")
    }
}
