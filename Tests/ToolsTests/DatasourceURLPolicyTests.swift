import MCPCore
import Testing
@testable import Tools

/// `grafana_create_datasource` gives Grafana a URL to fetch from inside its network: the
/// policy refuses link-local and unspecified addresses always, and hosts outside
/// `grafana.datasource_hosts` when it is set.
@Suite struct DatasourceURLPolicyTests {
    static let open = DatasourceURLPolicy(allowed: [])
    static let listed = DatasourceURLPolicy(allowed: ["*.svc.cluster.local", "Prometheus", "10.0.0.0/8", "2001:db8::/32"])

    func refusal(_ policy: DatasourceURLPolicy, _ url: String) -> String? {
        do {
            try policy.check(url)
            return nil
        } catch {
            #expect(error.kind == .invalidArgument)
            return error.message
        }
    }

    @Test(arguments: [
        "http://prometheus:9090", "https://loki.example.com/loki", "prometheus:9090", "db.example.com:5432",
        "http://10.1.2.3:9090", "http://[2001:db8::1]:9090/", "localhost:3306", "http://127.0.0.1:9090",
        "HTTPS://Grafana-Loki.example.com", "mysql_primary:3306",
    ])
    func anyOrdinaryHostPassesWithoutAList(url: String) {
        #expect(refusal(Self.open, url) == nil, "\(url)")
    }

    @Test(arguments: [
        "http://169.254.169.254/latest/meta-data/", "169.254.169.254:80", "http://[fe80::1]/", "http://[fe80::1%25eth0]/",
        "http://[::ffff:169.254.169.254]/", "http://0.0.0.0:9090", "http://[::]:9090", "http://[fd00:ec2::254]/",
        "100.100.100.200:80",
    ])
    func linkLocalAndUnspecifiedAddressesAreAlwaysRefused(url: String) {
        #expect(refusal(Self.open, url) == "url: link-local, cloud metadata and unspecified addresses are refused", "\(url)")
        #expect(refusal(Self.listed, url) != nil, "\(url)")
    }

    @Test(arguments: [
        "http://2852039166/", "http://0xa9fea9fe/", "http://0251.0376.0251.0376/", "http://169.254.43518/",
        "http://169.254.169.254./", "http://127.1/",
    ])
    func numericHostsThatAreNotADottedQuadAreRefused(url: String) {
        #expect(refusal(Self.open, url) == "url: a numeric host must be a dotted-quad IPv4 or a bracketed IPv6 address", "\(url)")
    }

    @Test func malformedURLsAreRefusedWithTheRule() {
        #expect(refusal(Self.open, "file:///etc/passwd") == "url: only http and https URLs are accepted")
        #expect(refusal(Self.open, "gopher://x:70/") == "url: only http and https URLs are accepted")
        #expect(refusal(Self.open, "http://prometheus.svc.cluster.local@169.254.169.254/")?.hasPrefix("url: user info is refused") == true)
        #expect(refusal(Self.open, "http://user:secret@prometheus/")?.contains("secret") == false)
        #expect(refusal(Self.open, "http://") == "url: no host")
        #expect(refusal(Self.open, "http://[2001:db8::1/") == "url: an IPv6 literal needs its closing bracket")
        #expect(refusal(Self.open, "http://[2001:db8::1]x/") == "url: only a port may follow an IPv6 literal")
        #expect(refusal(Self.open, "http://[not-an-address]/") == "url: not an IPv6 address in brackets")
        #expect(refusal(Self.open, "http://exa mple/") == "url: spaces, control and non-ASCII characters are refused")
        #expect(refusal(Self.open, "http://ex\u{0}ample/") == "url: spaces, control and non-ASCII characters are refused")
        #expect(refusal(Self.open, "http://bücher.example/") == "url: spaces, control and non-ASCII characters are refused")
        #expect(refusal(Self.open, "http://a%2eb/") == "url: the host is not a host name or an address")
    }

    @Test func aListAdmitsOnlyMatchingHostsAndBlocks() {
        for url in ["http://prometheus.monitoring.svc.cluster.local:9090", "prometheus:9090", "http://PROMETHEUS/",
                    "http://10.20.30.40/", "http://[2001:db8:1::5]:9090"] {
            #expect(refusal(Self.listed, url) == nil, "\(url)")
        }
        for url in ["http://svc.cluster.local.evil.example/", "http://evil.example/?x=.svc.cluster.local", "http://prometheus2/",
                    "http://11.0.0.1/", "http://127.0.0.1:9090", "localhost:5432", "http://[2001:db9::1]/"] {
            #expect(refusal(Self.listed, url) == "url: the host is not in grafana.datasource_hosts", "\(url)")
        }
        // Blocks alone do not admit names, and names alone do not admit addresses.
        #expect(refusal(DatasourceURLPolicy(allowed: ["10.0.0.0/8"]), "http://prometheus/") != nil)
        #expect(refusal(DatasourceURLPolicy(allowed: ["prometheus"]), "http://10.0.0.1/") != nil)
    }
}
