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
