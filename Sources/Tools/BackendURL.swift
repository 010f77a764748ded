import MCPCore

/// A backend's base URL, parsed strictly: `http` or `https`, a host, an optional port and an
/// optional base path (for a backend served under a prefix such as `/grafana`).
///
/// User info, queries and fragments are refused: credentials belong in the token setting,
/// where they are never logged, and a query on a base URL would be silently merged into
/// every call.
public struct BackendURL: Sendable, Hashable, CustomStringConvertible {
    public var isTLS: Bool
    public var host: String
    public var port: Int
    /// Without a trailing slash; empty for the root.
    public var basePath: String

    /// Errors say what is wrong, never the text: a refused URL may carry a password or an
    /// API key, and the message reaches every tool caller.
    public init(parsing text: String) throws(ToolError) {
        func fail(_ reason: String) -> ToolError { ToolError(.invalidArgument, "invalid backend URL: \(reason)") }
        var rest = Substring(text)
        if rest.hasPrefix("https://") {
            isTLS = true
            rest = rest.dropFirst(8)
        } else if rest.hasPrefix("http://") {
            isTLS = false
            rest = rest.dropFirst(7)
        } else {
            throw fail("the scheme must be http or https")
        }
        if rest.contains(where: { $0 == "?" || $0 == "#" }) { throw fail("a query or fragment is not allowed") }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        while path.hasSuffix("/") { path.removeLast() }
        basePath = path
        if authority.contains("@") { throw fail("user info is not allowed; use the token setting") }
        var hostPart: Substring
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw fail("unterminated IPv6 address") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected text after the IPv6 address") }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        } else {
            hostPart = authority
        }
        guard !hostPart.isEmpty else { throw fail("the host is empty") }
        // Refused here, by name, rather than on every call as a "malformed response": a
        // host of anything but name and address characters, or a path with a space or a
        // control character, cannot go into a request line or a Host header.
        guard hostPart.utf8.allSatisfy({ Self.isHostByte($0) }) else { throw fail("the host may hold only letters, digits, '-', '.', ':' and '_'") }
        guard basePath.utf8.allSatisfy(Self.isPathByte) else {
            throw fail("the path may hold only URL characters: visible ASCII but \" < > \\ ^ ` { | } (percent-encode the rest)")
        }
        host = String(hostPart)
        if let portPart {
            guard let value = Int(portPart), (1...65535).contains(value) else { throw fail("the port must be 1-65535") }
            port = value
        } else {
            port = isTLS ? 443 : 80
        }
    }

    /// What NIO sends in a request target (RFC 3986's characters and '%'): visible ASCII
    /// but `" < > \ ^ ` { | }`, which it refuses to send.
    private static func isPathByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\\"), UInt8(ascii: "^"),
             UInt8(ascii: "`"), UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"):
            return false
        default:
            return byte > 0x20 && byte < 0x7F
        }
    }

    private static func isHostByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: "%"):
            true
        default:
            false
        }
    }

    /// The `Host` header value (the port only when it is not the scheme's default).
    public var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        let defaultPort = isTLS ? 443 : 80
        return port == defaultPort ? name : "\(name):\(port)"
    }

    public var description: String { "\(isTLS ? "https" : "http")://\(hostHeader)\(basePath)" }
}
