/// An address block such as `10.0.0.0/8` or `2001:db8::/32` (RFC 4632 / RFC 4291 §2.3).
///
/// A bare address is a /32 or /128. Host bits set below the prefix are rejected rather than
/// silently masked: `10.0.0.1/8` is almost always a typo, and a typo in a trusted-proxy list
/// decides whose `X-Forwarded-For` is believed.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let mappedV4 = parts[0].contains(":")
        let maximum: Int
        switch address {
        case .v4: maximum = mappedV4 ? 128 : 32
        case .v6: maximum = 128
        }
        var length = maximum
        if parts.count == 2 {
            guard parts[1].count <= 3, parts[1].allSatisfy(\.isASCII),
                  let parsed = Int(parts[1]), parsed >= 0, parsed <= maximum
            else { return nil }
            length = parsed
        }
        // An IPv4-mapped block (::ffff:10.0.0.0/104) becomes the IPv4 block it means.
        if case .v4 = address, mappedV4 {
            guard length >= 96 else { return nil }
            length -= 96
        }
        guard Self.masked(address, length) == address else { return nil }
        self.address = address
        self.prefixLength = length
    }

    public func contains(_ candidate: IPAddress) -> Bool {
        switch (address, candidate) {
        case (.v4, .v4), (.v6, .v6):
            return Self.masked(candidate, prefixLength) == address
        default:
            return false
        }
    }

    static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case .v4(let value):
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return .v4(value & mask)
        case .v6(let high, let low):
            let highMask: UInt64 = length == 0 ? 0 : (length >= 64 ? ~0 : ~UInt64(0) << UInt64(64 - length))
            let lowMask: UInt64 = length <= 64 ? 0 : (length == 128 ? ~0 : ~UInt64(0) << UInt64(128 - length))
            return .v6(high: high & highMask, low: low & lowMask)
        }
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
