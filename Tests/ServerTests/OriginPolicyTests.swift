import Testing

@testable import MCPServerKit

/// Origin validation against DNS rebinding (2025-11-25 basic/transports.mdx "Security
/// Warning": servers MUST validate the Origin header; an invalid one gets 403).
@Suite struct OriginPolicyTests {
    let policy = OriginPolicy(allowed: ["https://app.example.com"])

    @Test("a listed origin is allowed, whatever the host")
    func listed() {
        #expect(policy.allows("https://app.example.com", host: "mcp.example.com"))
        #expect(policy.allows("HTTPS://App.Example.com", host: nil))
    }

    @Test("the request's own origin is allowed when its host is an IP literal or localhost",
          arguments: ["127.0.0.1:8443", "127.0.0.1", "[::1]:8443", "localhost:8443", "LOCALHOST", "192.0.2.10:443"])
    func sameOriginOnAnUnreboundableHost(_ host: String) {
        #expect(policy.allows("https://\(host)", host: host))
        #expect(!policy.allows("https://evil.example", host: host))
    }

    @Test("a host name's own origin is not enough: under DNS rebinding the attacker's page has it",
          arguments: ["evil.example:8443", "mcp.example.com", "127.0.0.1.nip.io:8443", "localhost.evil.example", "1.2.3.4.5"])
    func sameOriginOnANameIsRefused(_ host: String) {
        #expect(!policy.allows("https://\(host)", host: host))
    }
}
