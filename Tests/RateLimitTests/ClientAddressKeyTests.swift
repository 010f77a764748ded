import Testing
import RateLimit

@Suite struct ClientAddressKeyTests {
    @Test func ipv4IsKeyedByTheWholeAddress() {
        #expect(ClientAddressKey(ip: "192.0.2.1") == .v4(0xC000_0201))
        #expect(ClientAddressKey(ip: "192.0.2.1") != ClientAddressKey(ip: "192.0.2.2"))
        #expect(ClientAddressKey(ip: "127.0.0.2")?.description == "127.0.0.2")
    }

    /// RFC 6177: a subscriber gets a /64; every address in it is one client.
    @Test func ipv6IsKeyedByItsSlash64() {
        let a = ClientAddressKey(ip: "2001:db8:1:2:aaaa::1")
        let b = ClientAddressKey(ip: "2001:db8:1:2:ffff:ffff:ffff:ffff")
        let c = ClientAddressKey(ip: "2001:db8:1:3::1")
        #expect(a != nil && a == b)
        #expect(a != c)
        #expect(a?.description == "2001:db8:1:2::/64")
    }

    /// `limits.ipv6_prefix`: a subscriber given a /56 (RFC 6177) holds 256 /64s, so an operator
    /// can key by the /56; the length is clamped to 32...64.
    @Test func ipv6PrefixLengthIsConfigurable() throws {
        let address = try #require(IPAddress("2001:db8:1:2aa::1"))
        let sameSlash56 = try #require(IPAddress("2001:db8:1:2ff:ffff::1"))
        let nextSlash56 = try #require(IPAddress("2001:db8:1:300::1"))
        #expect(ClientAddressKey(address, ipv6Prefix: 56) == ClientAddressKey(sameSlash56, ipv6Prefix: 56))
        #expect(ClientAddressKey(address, ipv6Prefix: 56) != ClientAddressKey(nextSlash56, ipv6Prefix: 56))
        #expect(ClientAddressKey(address, ipv6Prefix: 64) != ClientAddressKey(sameSlash56, ipv6Prefix: 64))
        #expect(ClientAddressKey(address, ipv6Prefix: 56) == .v6Prefix64(0x2001_0db8_0001_0200))
        #expect(ClientAddressKey(address, ipv6Prefix: 48) == .v6Prefix64(0x2001_0db8_0001_0000))
        #expect(ClientAddressKey(address, ipv6Prefix: 20) == ClientAddressKey(address, ipv6Prefix: 32))
        #expect(ClientAddressKey(address, ipv6Prefix: 128) == ClientAddressKey(address, ipv6Prefix: 64))
        // IPv4 is keyed whole whatever the IPv6 prefix.
        #expect(ClientAddressKey(try #require(IPAddress("192.0.2.1")), ipv6Prefix: 32) == .v4(0xC000_0201))
    }

    /// RFC 4291 §2.5.5.2: ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket.
    @Test func ipv4MappedIPv6IsTheIPv4Key() {
        #expect(ClientAddressKey(ip: "::ffff:192.0.2.1") == ClientAddressKey(ip: "192.0.2.1"))
        #expect(ClientAddressKey(ip: "::FFFF:c000:0201") == ClientAddressKey(ip: "192.0.2.1"))
        // ::1 and the IPv4-compatible ::192.0.2.1 are not mapped addresses.
        #expect(ClientAddressKey(ip: "::1") == .v6Prefix64(0))
    }

    @Test func rawSocketAddressBytes() {
        #expect(ClientAddressKey(addressBytes: [127, 0, 0, 1]) == ClientAddressKey(ip: "127.0.0.1"))
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 7]
        #expect(ClientAddressKey(addressBytes: mapped) == ClientAddressKey(ip: "10.0.0.7"))
        let v6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1] + [UInt8](repeating: 9, count: 8)
        #expect(ClientAddressKey(addressBytes: v6) == ClientAddressKey(ip: "2001:db8:0:1::"))
        #expect(ClientAddressKey(addressBytes: [1, 2, 3]) == nil)
    }

    @Test func zoneIdentifierIsDropped() {
        #expect(ClientAddressKey(ip: "fe80::1%eth0") == ClientAddressKey(ip: "fe80::2"))
    }

    @Test(arguments: [
        "", "localhost", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.4 ", " 1.2.3.4", "01.2.3.4",
        "1.2.3.4%eth0", "[::1]", "::1::", "gggg::1", "1.2.3.4:80",
        String(repeating: "1", count: 100), "2001:db8::1\0",
    ])
    func malformedAddressesAreRejected(_ text: String) {
        #expect(ClientAddressKey(ip: text) == nil)
    }

    @Test func ipAddressDescriptionRoundTrips() {
        for text in ["10.1.2.3", "2001:db8::1", "::1", "fe80::1:2"] {
            #expect(IPAddress(text)?.description == text)
        }
        #expect(IPAddress("::ffff:10.1.2.3")?.description == "10.1.2.3")
    }
}
