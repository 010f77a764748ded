import MCPCore
import RateLimit

/// Which URLs `grafana_create_datasource` may give Grafana.
///
/// A data source in proxy mode makes Grafana fetch that URL from inside its own network for
/// whoever queries it, so a caller of the tool could point it at a cloud metadata endpoint
/// or an internal admin port (server-side request forgery through Grafana). The policy
/// reads the host the way Grafana will: from `scheme://host[:port]/…` (http and https only)
/// or from the `host[:port]` form the SQL data sources use.
///
/// - Link-local (169.254.0.0/16, fe80::/10, where most metadata endpoints live), the other
///   cloud metadata addresses (AWS's `fd00:ec2::254`, Alibaba's `100.100.100.200`) and
///   unspecified (0.0.0.0/8, `::`) addresses are always refused, as are numeric hosts that
///   are not a plain dotted quad (`2852039166`, `0xa9.0xfe.0xa9.0xfe`): resolvers read those
///   as addresses, so they would slip past both rules.
/// - Names are not resolved here (Grafana resolves them, later and elsewhere): a name that
///   points at a metadata address (`metadata.google.internal`) passes these rules, which is
///   why `grafana.datasource_hosts` is the control to set.
/// - With `allowed` entries (`grafana.datasource_hosts`) the host must match one: a host
///   name glob (`*.svc.cluster.local`, compared without case) or an address block
///   (`10.0.0.0/8`). Without entries any other host is allowed, as in the Go server.
public struct DatasourceURLPolicy: Sendable {
    let names: [String]
    let blocks: [CIDR]

    static let alwaysRefused: [CIDR] = [
        "169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32", "0.0.0.0/8", "::/128",
    ].compactMap { CIDR($0) }

    /// An entry that parses as an address block is one; any other is a host name glob (the
    /// configuration check refuses entries that are neither).
    public init(allowed: [String]) {
        var names: [String] = []
        var blocks: [CIDR] = []
        for entry in allowed {
            if let block = CIDR(entry) { blocks.append(block) } else { names.append(entry.lowercased()) }
        }
        self.names = names
        self.blocks = blocks
    }

    /// Throws `invalid_argument` naming the rule a URL breaks; the URL itself is not
    /// repeated (a caller may have pasted credentials into it).
    public func check(_ url: String) throws(ToolError) {
        let host = try Self.host(of: url)
        if let address = IPAddress(host) {
            guard !Self.alwaysRefused.contains(where: { $0.contains(address) }) else {
                throw ToolError(.invalidArgument, "url: link-local, cloud metadata and unspecified addresses are refused")
            }
            guard names.isEmpty && blocks.isEmpty || blocks.contains(where: { $0.contains(address) }) else {
                throw ToolError(.invalidArgument, "url: the host is not in grafana.datasource_hosts")
            }
            return
        }
        guard !Self.looksNumeric(host) else {
            throw ToolError(.invalidArgument, "url: a numeric host must be a dotted-quad IPv4 or a bracketed IPv6 address")
        }
        guard names.isEmpty && blocks.isEmpty || names.contains(where: { Glob.matches($0, host) }) else {
            throw ToolError(.invalidArgument, "url: the host is not in grafana.datasource_hosts")
        }
    }

    /// The host of `http(s)://host[:port][/…]` or `host[:port][/…]`, lowercased, without the
    /// brackets of an IPv6 literal.
    static func host(of url: String) throws(ToolError) -> String {
        func fail(_ reason: String) -> ToolError { ToolError(.invalidArgument, "url: \(reason)") }
        let bytes = Array(url.utf8)
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw fail("spaces, control and non-ASCII characters are refused") }
        var rest = bytes[...]
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")), bytes[colon...].starts(with: Array("://".utf8)) {
            let scheme = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
            guard scheme == "http" || scheme == "https" else { throw fail("only http and https URLs are accepted") }
            rest = bytes[(colon + 3)...]
        }
        let authority = rest.prefix { $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }
        guard !authority.contains(UInt8(ascii: "@")) else { throw fail("user info is refused (credentials belong in the data source's settings)") }
        var host: ArraySlice<UInt8>
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { throw fail("an IPv6 literal needs its closing bracket") }
            host = authority[(authority.startIndex + 1)..<close]
            let after = authority[(close + 1)...]
            guard after.isEmpty || after.first == UInt8(ascii: ":") else { throw fail("only a port may follow an IPv6 literal") }
            guard IPAddress(String(decoding: host, as: UTF8.self)) != nil else { throw fail("not an IPv6 address in brackets") }
        } else {
            host = authority.prefix { $0 != UInt8(ascii: ":") }
            guard host.allSatisfy(isHostNameByte) else { throw fail("the host is not a host name or an address") }
        }
        guard !host.isEmpty else { throw fail("no host") }
        return String(decoding: host, as: UTF8.self).lowercased()
    }

    /// A host whose last label starts with a digit: no top-level domain does, so a resolver
    /// would read it as an address in some form (decimal, octal, hexadecimal, shortened).
    static func looksNumeric(_ host: String) -> Bool {
        let last = host.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: true).last
        return last?.first.map { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } ?? true
    }

    static func isHostNameByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: "_")
    }
}
