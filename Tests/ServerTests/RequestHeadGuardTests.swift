import Testing
@testable import MCPServerKit

/// RFC 9110 §7.2 / RFC 9112 §3.2: what a Host field may hold.
@Suite struct RequestHeadGuardTests {
    @Test("valid hosts", arguments: ["localhost", "127.0.0.1", "127.0.0.1:8443", "[::1]", "[::1]:8443", "mcp.example.com", "xn--bcher-kva.example", "a_b~c"])
    func valid(host: String) {
        #expect(RequestHeadGuard.isValidHost(host))
    }

    @Test("invalid hosts", arguments: ["", "a b", "[::1", "[::1]x", "[zz]", "host:99999x", "host:123456", "a/b", "a\u{7F}", "é.example", String(repeating: "a", count: 256)])
    func invalid(host: String) {
        #expect(!RequestHeadGuard.isValidHost(host))
    }
}
