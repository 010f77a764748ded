import Synchronization

/// The rate-limit and connection-cap key of a client address.
///
/// IPv4 clients are keyed by their whole address (/32). IPv6 clients are keyed by a prefix,
/// /64 unless configured (``ipv6Prefix``, 32...64): a subscriber gets at least a whole /64
/// and can rotate through 2^64 addresses, so keying by /128 would let one client take as many
/// keys as it likes; and many are given a /56 or a /48 (RFC 6177), which holds 256 or 65,536
/// /64s, hence the setting. IPv4-mapped IPv6 addresses are keyed as the IPv4 address they carry.
///
/// Never use the key (or the address) as a metrics label: it is unbounded.
public enum ClientAddressKey: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    /// The address's high 64 bits, those past the prefix cleared.
    case v6Prefix64(UInt64)

    /// The IPv6 prefix length clients are keyed by: `limits.ipv6_prefix`, set once at start-up
    /// before any connection (``setIPv6Prefix(_:)``).
    public static var ipv6Prefix: Int { prefixLength.load(ordering: .relaxed) }
    private static let prefixLength = Atomic<Int>(64)

    /// Sets ``ipv6Prefix``, clamped to 32...64.
    public static func setIPv6Prefix(_ bits: Int) {
        prefixLength.store(min(64, max(32, bits)), ordering: .relaxed)
    }

    public init(_ address: IPAddress, ipv6Prefix: Int = ClientAddressKey.ipv6Prefix) {
        switch address {
        case .v4(let value): self = .v4(value)
        case .v6(let high, _):
            let bits = min(64, max(32, ipv6Prefix))
            self = .v6Prefix64(bits == 64 ? high : high & ~((1 << UInt64(64 - bits)) - 1))
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
            return IPAddress.v6(high: high, low: 0).description + "/\(Self.ipv6Prefix)"
        }
    }
}
