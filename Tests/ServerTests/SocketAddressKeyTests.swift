import NIOCore
import RateLimit
import Testing

@testable import MCPServerKit

/// The key read from a socket address's bytes is the one its text would give.
@Suite struct SocketAddressKeyTests {
    @Test(arguments: ["127.0.0.1", "203.0.113.9", "255.255.255.255", "0.0.0.0", "::1", "2001:db8:1:2:3:4:5:6", "::ffff:192.0.2.7", "fe80::1"])
    func keyFromBytesMatchesKeyFromText(_ ip: String) throws {
        let address = try SocketAddress(ipAddress: ip, port: 443)
        let text = try #require(address.ipAddress)
        let fromText = try #require(ClientAddressKey(ip: text))
        #expect(address.clientAddressKey == fromText)
    }

    @Test func mappedV4IsKeyedAsV4() throws {
        let mapped = try SocketAddress(ipAddress: "::ffff:192.0.2.7", port: 1)
        let plain = try SocketAddress(ipAddress: "192.0.2.7", port: 1)
        #expect(mapped.clientAddressKey == plain.clientAddressKey)
        #expect(plain.clientAddressKey == .v4(0xC000_0207))
    }

    @Test func sameSlash64IsOneKey() throws {
        let a = try SocketAddress(ipAddress: "2001:db8:1:2::1", port: 1)
        let b = try SocketAddress(ipAddress: "2001:db8:1:2:ffff::9", port: 1)
        #expect(a.clientAddressKey == b.clientAddressKey)
        #expect(a.clientAddressKey == .v6Prefix64(0x2001_0db8_0001_0002))
    }

    @Test func unixSocketHasNoKey() throws {
        let path = try SocketAddress(unixDomainSocketPath: "/tmp/x.sock")
        #expect(path.clientAddressKey == nil)
    }
}
