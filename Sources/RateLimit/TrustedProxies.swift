/// Which peers may tell us the client's address, and through which header.
///
/// Off by default (an empty list): the server is meant to be exposed directly, so the socket
/// peer *is* the client, and believing a header any client can write would let one client
/// rotate through unlimited rate-limit keys.
///
/// With a list, `clientAddress` walks the forwarding chain from the nearest hop outwards
/// (right to left, RFC 7239 §5.2 and §7.4) and returns the first address that is not a trusted
/// proxy. Only a trusted hop's claims are believed, so a client cannot forge its way past one.
///
/// Only one header is read, the one the proxy writes (``Header``): common proxies append to
/// `X-Forwarded-For` but pass a client's own `Forwarded` through untouched, so believing
/// whichever is present would let a client name any address behind them.
public struct TrustedProxies: Sendable, Hashable {
    public let blocks: [CIDR]
    public let header: Header

    /// `limits.forwarded_header`.
    public enum Header: String, Sendable, Hashable, CaseIterable {
        /// `X-Forwarded-For` (nginx, HAProxy, Traefik, cloud load balancers).
        case xForwardedFor = "x-forwarded-for"
        /// `Forwarded` (RFC 7239), for a proxy configured to write it.
        case forwarded
    }

    /// At most this many hops are examined; a longer chain stops at the last one examined.
    public static let maxHops = 32
    /// At most this much of the header is read (in bytes, all lines together), its right end:
    /// the hops our proxies added are there, and the rest is the client's to make as long as
    /// it likes.
    public static let maxHeaderLength = 4096

    public init(_ blocks: [CIDR] = [], header: Header = .xForwardedFor) {
        self.blocks = blocks
        self.header = header
    }

    /// Parses a list such as `["10.0.0.0/8", "::1"]`; nil names the first invalid entry.
    public static func parse(_ entries: [String], header: Header = .xForwardedFor) -> Result<TrustedProxies, InvalidCIDR> {
        var blocks: [CIDR] = []
        for entry in entries {
            guard let block = CIDR(entry.trimmingSpaces) else { return .failure(InvalidCIDR(entry: entry)) }
            blocks.append(block)
        }
        return .success(TrustedProxies(blocks, header: header))
    }

    public struct InvalidCIDR: Error, Hashable, Sendable, CustomStringConvertible {
        public let entry: String
        public var description: String { "not an IP address or CIDR block: \"\(entry)\"" }
    }

    public var isEnabled: Bool { !blocks.isEmpty }

    public func isTrusted(_ address: IPAddress) -> Bool {
        blocks.contains { $0.contains(address) }
    }

    /// The client's address for a request.
    ///
    /// - Parameters:
    ///   - peer: the socket peer.
    ///   - xForwardedFor: every `X-Forwarded-For` field line, in order (de-facto: comma-separated
    ///     addresses, client first); read only when ``header`` is `.xForwardedFor`.
    ///   - forwarded: every `Forwarded` field line, in order (RFC 7239); read only when
    ///     ``header`` is `.forwarded`.
    /// - Returns: `peer` when the peer is not trusted, or when the list is empty; otherwise the
    ///   first untrusted hop from the right. A hop that is not an IP address (`unknown`, an
    ///   obfuscated `_name`, garbage) ends the walk at the hop that reported it: that is the
    ///   furthest address we can vouch for. Of a header over ``maxHeaderLength`` only its
    ///   right end is read (ignored whole, a client's long header made the proxy the client,
    ///   its lockouts shared with every request through it).
    public func clientAddress(peer: IPAddress, xForwardedFor: [String] = [], forwarded: [String] = []) -> IPAddress {
        guard isEnabled, isTrusted(peer) else { return peer }
        var lines = header == .forwarded ? forwarded : xForwardedFor
        if Self.totalLength(lines) > Self.maxHeaderLength {
            lines = header == .forwarded ? Self.lastLines(lines) : Self.rightEnd(lines)
        }
        guard !lines.isEmpty else { return peer }
        let hops = header == .forwarded ? Self.forwardedForHops(lines) : Self.xForwardedForHops(lines)
        var current = peer
        var examined = 0
        for hop in hops.reversed() {
            guard examined < Self.maxHops, let address = hop else { return current }
            examined += 1
            current = address
            if !isTrusted(address) { return address }
        }
        return current
    }

    private static func totalLength(_ lines: [String]) -> Int {
        lines.reduce(0) { $0 + $1.utf8.count }
    }

    /// The whole entries of an `X-Forwarded-For` within its last ``maxHeaderLength`` bytes
    /// (lines join with commas, RFC 9110 §5.3; the entry the cut falls in is dropped).
    static func rightEnd(_ lines: [String]) -> [String] {
        let tail = Array(lines.joined(separator: ",").utf8.suffix(maxHeaderLength))
        guard let comma = tail.firstIndex(of: UInt8(ascii: ",")) else { return [] }
        return [String(decoding: tail[(comma + 1)...], as: UTF8.self)]
    }

    /// The last whole elements of a `Forwarded` within ``maxHeaderLength`` bytes, split
    /// outside quoted strings (a cut inside one would misread what follows it): a proxy may
    /// append its element to the client's own line.
    static func lastLines(_ lines: [String]) -> [String] {
        var kept: [String] = []
        var length = 0
        for line in lines.reversed() {
            if length + line.utf8.count <= maxHeaderLength {
                length += line.utf8.count
                kept.insert(line, at: 0)
                continue
            }
            var elements: [Substring] = []
            for element in splitOutsideQuotes(Substring(line), separator: ",").reversed() {
                length += element.utf8.count + 1
                guard length <= maxHeaderLength else { break }
                elements.insert(element, at: 0)
            }
            if !elements.isEmpty { kept.insert(elements.joined(separator: ","), at: 0) }
            break
        }
        return kept
    }

    /// `X-Forwarded-For: client, proxy1, proxy2`: entries are bare addresses; some proxies add
    /// a port (`192.0.2.1:1234`) or brackets (`[2001:db8::1]`), which are stripped.
    static func xForwardedForHops(_ lines: [String]) -> [IPAddress?] {
        lines.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { parseNode(Substring($0.trimmingSpaces)) }
    }

    /// RFC 7239 §4: `Forwarded: for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"`.
    /// Each element contributes its `for=` node; an element without one is an unusable hop.
    static func forwardedForHops(_ lines: [String]) -> [IPAddress?] {
        var hops: [IPAddress?] = []
        for line in lines {
            for element in splitOutsideQuotes(Substring(line), separator: ",") {
                var node: IPAddress?? = nil
                for pair in splitOutsideQuotes(element, separator: ";") {
                    let trimmed = Substring(pair.trimmingSpaces)
                    guard let equals = trimmed.firstIndex(of: "=") else { continue }
                    guard trimmed[..<equals].lowercased() == "for" else { continue }
                    var value = trimmed[trimmed.index(after: equals)...]
                    if value.hasPrefix("\"") {
                        guard value.count >= 2, value.hasSuffix("\"") else { node = .some(nil); break }
                        value = value.dropFirst().dropLast()
                    }
                    node = .some(parseNode(value))
                    break
                }
                hops.append(node ?? nil)
            }
        }
        return hops
    }

    /// A node (RFC 7239 §6): `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]`, `[2001:db8::1]:80`,
    /// or a bare IPv6 address as X-Forwarded-For writes it. `unknown` and `_obfuscated` are nil.
    static func parseNode(_ text: Substring) -> IPAddress? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let rest = text[text.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && isPort(rest.dropFirst())) else { return nil }
            // Brackets hold an IPv6 literal (a mapped IPv4 inside still normalises to IPv4).
            let inner = text[text.index(after: text.startIndex)..<close]
            return inner.contains(":") ? IPAddress(inner) : nil
        }
        let colons = text.reduce(0) { $0 + ($1 == ":" ? 1 : 0) }
        if colons == 1, let colon = text.firstIndex(of: ":") {
            guard isPort(text[text.index(after: colon)...]) else { return nil }
            return IPAddress(text[..<colon])
        }
        return IPAddress(text)
    }

    private static func isPort(_ text: Substring) -> Bool {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(text)
        else { return false }
        return port <= 65_535
    }

    private static func splitOutsideQuotes(_ text: Substring, separator: Character) -> [Substring] {
        var parts: [Substring] = []
        var start = text.startIndex
        var inQuotes = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "\"" { inQuotes.toggle() }
            if character == separator, !inQuotes {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        parts.append(text[start...])
        // A quote left open (a client's `for="1.2.3.4` with a proxy's `, for=…` appended to
        // the same line) would take in every element after it, the proxy's own too, and the
        // client would be read as the proxy. Unbalanced, the quotes are taken as plain text.
        if inQuotes { return text.split(separator: separator, omittingEmptySubsequences: false) }
        return parts
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (HTTP OWS, RFC 9110 §5.6.3).
    var trimmingSpaces: String {
        let bytes = Array(utf8)
        guard let first = bytes.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
              let last = bytes.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })
        else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
