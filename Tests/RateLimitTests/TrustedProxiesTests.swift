import Testing
import RateLimit

@Suite struct TrustedProxiesTests {
    func ip(_ text: String) -> IPAddress { IPAddress(text)! }
    let proxies = try! TrustedProxies.parse(["10.0.0.0/8", "2001:db8:ffff::/48", "127.0.0.1"]).get()
    let rfc7239 = try! TrustedProxies.parse(["10.0.0.0/8", "2001:db8:ffff::/48", "127.0.0.1"], header: .forwarded).get()

    @Test func cidrMatching() {
        let block = CIDR("192.168.0.0/16")!
        #expect(block.contains(ip("192.168.255.1")))
        #expect(!block.contains(ip("192.169.0.1")))
        #expect(!block.contains(ip("::ffff:192.169.0.1")))
        #expect(block.contains(ip("::ffff:192.168.0.1")), "mapped IPv4 matches the IPv4 block")
        #expect(CIDR("0.0.0.0/0")!.contains(ip("8.8.8.8")))
        #expect(!CIDR("0.0.0.0/0")!.contains(ip("::1")))
        #expect(CIDR("2001:db8::/32")!.contains(ip("2001:db8:ffff::1")))
        #expect(CIDR("::ffff:10.0.0.0/104")! == CIDR("10.0.0.0/8")!)
        #expect(CIDR("::/0")!.contains(ip("2001:db8::1")))
        #expect(CIDR("2001:db8::1/128")!.contains(ip("2001:db8::1")))
        #expect(!CIDR("2001:db8::1/128")!.contains(ip("2001:db8::2")))
    }

    @Test(arguments: ["10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "::/129", "x/8", "10.0.0.0/8/8", "::ffff:10.0.0.0/8"])
    func invalidBlocksAreRejected(_ text: String) {
        #expect(CIDR(text) == nil)
    }

    @Test func parseNamesTheBadEntry() {
        guard case .failure(let error) = TrustedProxies.parse(["10.0.0.0/8", "nope"]) else {
            Issue.record("accepted an invalid entry")
            return
        }
        #expect(error.entry == "nope")
    }

    @Test func offByDefaultThePeerIsTheClient() {
        let none = TrustedProxies()
        #expect(none.clientAddress(peer: ip("10.1.1.1"), xForwardedFor: ["1.2.3.4"]) == ip("10.1.1.1"))
    }

    @Test func untrustedPeerHeadersAreIgnored() {
        #expect(proxies.clientAddress(peer: ip("203.0.113.9"), xForwardedFor: ["1.2.3.4"],
                                      forwarded: ["for=1.2.3.4"]) == ip("203.0.113.9"))
    }

    @Test func xForwardedForFromATrustedProxy() {
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: ["198.51.100.7"]) == ip("198.51.100.7"))
    }

    /// The rightmost untrusted hop wins: a client-supplied left part cannot spoof past it.
    @Test func spoofedLeftEntriesAreIgnored() {
        let header = ["6.6.6.6, 198.51.100.7, 10.0.0.5"]
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: header) == ip("198.51.100.7"))
    }

    @Test func multipleFieldLinesAreOneList() {
        let lines = ["6.6.6.6", "198.51.100.7 , 10.0.0.5"]
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: lines) == ip("198.51.100.7"))
    }

    @Test func allTrustedChainGivesTheLeftmost() {
        #expect(proxies.clientAddress(peer: ip("127.0.0.1"), xForwardedFor: ["10.9.9.9, 10.0.0.5"]) == ip("10.9.9.9"))
    }

    @Test func garbageHopStopsAtTheProxyThatReportedIt() {
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: ["1.2.3.4, garbage"]) == ip("10.0.0.2"))
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: ["1.2.3.4, 10.0.0.3, "]) == ip("10.0.0.2"))
    }

    @Test func portsAndBracketsInXForwardedFor() {
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: ["198.51.100.7:5555"]) == ip("198.51.100.7"))
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: ["[2001:db8::7]:443"]) == ip("2001:db8::7"))
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: ["2001:db8::7"]) == ip("2001:db8::7"))
    }

    /// RFC 7239 §4 and §6 examples.
    @Test func forwardedHeader() {
        let peer = ip("10.0.0.2")
        #expect(rfc7239.clientAddress(peer: peer, forwarded: ["for=192.0.2.60;proto=http;by=203.0.113.43"]) == ip("192.0.2.60"))
        #expect(rfc7239.clientAddress(peer: peer, forwarded: ["For=\"[2001:db8:cafe::17]:4711\""]) == ip("2001:db8:cafe::17"))
        #expect(rfc7239.clientAddress(peer: peer, forwarded: ["for=192.0.2.43, for=10.0.0.9"]) == ip("192.0.2.43"))
        #expect(rfc7239.clientAddress(peer: peer, forwarded: ["for=192.0.2.43", "for=\"10.0.0.9:80\""]) == ip("192.0.2.43"))
        #expect(rfc7239.clientAddress(peer: peer, forwarded: ["proto=https;for=\"198.51.100.1\""]) == ip("198.51.100.1"))
    }

    /// nginx, HAProxy and Traefik append to `X-Forwarded-For` but pass a client's own
    /// `Forwarded` through: a client must not pick its address with the header the proxy
    /// leaves alone. Only the configured header is read.
    /// The client's own unclosed quote must not swallow the element the proxy appended to the
    /// same line: read as one element, the client became the proxy (and shared its limits).
    @Test func anUnclosedQuoteDoesNotHideTheProxysElement() {
        let rfc7239 = try! TrustedProxies.parse(["10.0.0.0/8"], header: .forwarded).get()
        let peer = ip("10.0.0.2")
        #expect(rfc7239.clientAddress(peer: peer, forwarded: [#"for="192.0.2.1, for=198.51.100.7"#]) == ip("198.51.100.7"))
        #expect(rfc7239.clientAddress(peer: peer, forwarded: [#"for="192.0.2.1;proto="http, for=198.51.100.7;proto=https"#]) == ip("198.51.100.7"))
    }

    @Test func onlyTheConfiguredHeaderIsBelieved() {
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: ["203.0.113.7"], forwarded: ["for=198.51.100.1"]) == ip("203.0.113.7"))
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), forwarded: ["for=198.51.100.1"]) == ip("10.0.0.2"))
        #expect(rfc7239.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: ["203.0.113.7"], forwarded: ["for=198.51.100.1"]) == ip("198.51.100.1"))
        #expect(rfc7239.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: ["203.0.113.7"]) == ip("10.0.0.2"))
    }

    /// RFC 7239 §6.2/§6.3: `unknown` and obfuscated identifiers are not addresses.
    @Test func unknownAndObfuscatedNodesStopTheWalk() {
        let peer = ip("10.0.0.2")
        #expect(rfc7239.clientAddress(peer: peer, forwarded: ["for=unknown"]) == peer)
        #expect(rfc7239.clientAddress(peer: peer, forwarded: ["for=_hidden, for=10.0.0.7"]) == ip("10.0.0.7"))
        #expect(rfc7239.clientAddress(peer: peer, forwarded: ["proto=http"]) == peer)
        #expect(rfc7239.clientAddress(peer: peer, forwarded: ["for=\"192.0.2.1"]) == peer)
        #expect(rfc7239.clientAddress(peer: peer, forwarded: ["for=192.0.2.1:99999"]) == peer)
    }

    /// A client may send a forwarding header as long as it likes; our proxy appends the
    /// address it saw at the right end. Ignored whole, a long one made the proxy the client.
    @Test func ofAnOversizedHeaderTheRightEndIsRead() {
        let padding = String(repeating: "1.1.1.1,", count: 600)
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: [padding + "203.0.113.9"]) == ip("203.0.113.9"))
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: [padding, "203.0.113.9, 10.0.0.1"]) == ip("203.0.113.9"))
        // Trusted all the way through the part read: the walk ends at its last trusted hop.
        let trusted = Array(repeating: "10.0.0.1", count: 600).joined(separator: ",")
        #expect(proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: [trusted]) == ip("10.0.0.1"))
        // Forwarded is cut between elements, outside quoted strings: a client's long line goes,
        // the proxy's stays, also when the proxy appended its element to the client's line.
        let longLine = String(repeating: "for=1.1.1.1, ", count: 400) + "for=\"[2001:db8::1]\""
        #expect(rfc7239.clientAddress(peer: ip("10.0.0.2"), forwarded: [longLine, "for=203.0.113.9"]) == ip("203.0.113.9"))
        #expect(rfc7239.clientAddress(peer: ip("10.0.0.2"), forwarded: [longLine + ", for=203.0.113.9"]) == ip("203.0.113.9"))
        // A quoted string holding commas is not cut: its element is whole or gone.
        let quoted = "for=\"_" + String(repeating: "a,", count: 2500) + "\", for=203.0.113.7"
        #expect(rfc7239.clientAddress(peer: ip("10.0.0.2"), forwarded: [quoted]) == ip("203.0.113.7"))
    }

    @Test func hopCountIsBounded() {
        // 40 trusted hops then a client: only 32 are examined, the walk stops inside the chain.
        let hops = ["198.51.100.1"] + Array(repeating: "10.0.0.1", count: 40)
        let result = proxies.clientAddress(peer: ip("10.0.0.2"), xForwardedFor: [hops.joined(separator: ",")])
        #expect(result == ip("10.0.0.1"))
    }
}
