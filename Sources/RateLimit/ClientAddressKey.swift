/// The rate-limit and connection-cap key of a client address.
///
/// IPv4 clients are keyed by their whole address (/32). IPv6 clients are keyed by their /64
/// prefix: one subscriber usually gets a whole /64 (RFC 6177) and can rotate through 2^64
/// addresses, so keying by /128 would let one client take as many keys as it likes.
/// IPv4-mapped IPv6 addresses are keyed as the IPv4 address they carry.
///
/// Never use the key (or the address) as a metrics label: it is unbounded.
public enum ClientAddressKey: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6Prefix64(UInt64)

    public init(_ address: IPAddress) {
        switch address {
        case .v4(let value): self = .v4(value)
        case .v6(let high, _): self = .v6Prefix64(high)
        }
    }

    /// From a textual address (e.g. NIO's `SocketAddress.ipAddress`); nil if it is not one.
    public init?(ip: some StringProtocol) {
        guard let address = IPAddress(ip) else { return nil }
        self.init(address)
    }

    /// From raw `sin_addr` (4 bytes) or `sin6_addr` (16 bytes).
    public init?(addressBytes: some Collection<UInt8>) {
        guard let address = IPAddress(bytes: addressBytes) else { return nil }
        self.init(address)
    }

    public var description: String {
        switch self {
        case .v4(let value):
            return IPAddress.v4(value).description
        case .v6Prefix64(let high):
            return IPAddress.v6(high: high, low: 0).description + "/64"
        }
    }
}
