import Testing
@testable import Config

/// Durations and sizes: the accepted spellings, their canonical rendering, and the
/// edge cases that must be refused.
@Suite struct ValueTypeTests {
    @Test(arguments: [
        ("0", Int64(0)), ("250ms", 250), ("30s", 30_000), ("5m", 300_000), ("1h", 3_600_000),
        ("1h30m", 5_400_000), ("2m5s", 125_000), ("0s", 0), ("1s500ms", 1500), ("8760h", 31_536_000_000),
    ])
    func durationParses(_ text: String, _ milliseconds: Int64) {
        #expect(ConfigDuration(parsing: text)?.milliseconds == milliseconds)
    }

    @Test(arguments: [
        "", "30", "-5s", "1.5h", "5 m", "5M", "1d", "s", "ms", "10us", "+5s", "5s ", "8761h",
        "99999999999999999999s", "1h-1m", "0x10s", "５s",
    ])
    func durationRefuses(_ text: String) {
        #expect(ConfigDuration(parsing: text) == nil)
    }

    @Test func durationRendersExactly() {
        #expect(ConfigDuration(milliseconds: 0).description == "0s")
        #expect(ConfigDuration(milliseconds: 250).description == "250ms")
        #expect(ConfigDuration(milliseconds: 1500).description == "1500ms")
        #expect(ConfigDuration.minutes(90).description == "90m")
        #expect(ConfigDuration.hours(2).description == "2h")
        #expect(ConfigDuration.seconds(30).duration == .seconds(30))
    }

    @Test(arguments: [
        ("0", 0), ("65536", 65536), ("512KiB", 524_288), ("1MiB", 1_048_576), ("2GiB", 2_147_483_648),
        ("64KB", 64_000), ("3MB", 3_000_000), ("1GB", 1_000_000_000), ("10B", 10), ("1024GiB", 1 << 40),
    ])
    func sizeParses(_ text: String, _ bytes: Int) {
        #expect(ByteSize(parsing: text)?.bytes == bytes)
    }

    @Test(arguments: [
        "", "-1", "1.5MiB", "1 MiB", "1mib", "1Mi", "1M", "1K", "MiB", "1TiB", "1025GiB", "1e6",
        "99999999999999999999", "0x10", "1MiBs",
    ])
    func sizeRefuses(_ text: String) {
        #expect(ByteSize(parsing: text) == nil)
    }

    @Test func sizeRendersWithTheLargestExactUnit() {
        #expect(ByteSize(bytes: 1_048_576).description == "1MiB")
        #expect(ByteSize(bytes: 64_000).description == "64KB")
        #expect(ByteSize(bytes: 1500).description == "1500")
        #expect(ByteSize(bytes: 0).description == "0")
        #expect(ByteSize(bytes: 4096).description == "4KiB")
    }

    /// RFC 3339 section 5.6 date-time, used by `auth.tokens[].expires`.
    @Test func rfc3339() {
        #expect(RFC3339.parse("1970-01-01T00:00:00Z") == 0)
        #expect(RFC3339.parse("2027-12-31T23:59:59Z") == 1_830_297_599)
        #expect(RFC3339.parse("2027-12-31T23:59:59.123+01:00") == 1_830_293_999)
        #expect(RFC3339.parse("2024-02-29T00:00:00-00:30") == 1_709_166_600)
        for bad in ["2027-12-31", "2027-12-31 23:59:59Z", "2023-02-29T00:00:00Z", "2027-13-01T00:00:00Z", "2027-12-31T24:00:00Z", "2027-12-31T23:59:59", "2027-12-31T23:59:59+0100", "2027-12-31T23:59:59.Z"] {
            #expect(RFC3339.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func networkSyntax() {
        for good in ["10.0.0.0/8", "192.168.1.1", "2001:db8::/32", "::1/128", "0.0.0.0/0"] {
            #expect(NetworkSyntax.isCIDR(good), "\(good)")
        }
        for bad in ["10.0.0.0/33", "10.0.0/8", "2001:db8::/129", "host/8", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/-1", ""] {
            #expect(!NetworkSyntax.isCIDR(bad), "\(bad)")
        }
        #expect(NetworkSyntax.isHTTPURL("https://grafana.example.com/x"))
        #expect(NetworkSyntax.isHTTPURL("http://127.0.0.1:9090"))
        #expect(!NetworkSyntax.isHTTPURL("ftp://x"))
        #expect(!NetworkSyntax.isHTTPURL("https://"))
        #expect(!NetworkSyntax.isHTTPURL("grafana.example.com"))
        for bad in ["http://u:p@h", "http://u@h:80/x", "http://h/?api_key=x", "http://h/x#y", "u:p@h"] {
            #expect(NetworkSyntax.hasUserInfoQueryOrFragment(bad), "\(bad)")
        }
        #expect(!NetworkSyntax.hasUserInfoQueryOrFragment("https://grafana.example.com:3000/a@b"))
        #expect(NetworkSyntax.isLoopback("127.0.0.1") && NetworkSyntax.isLoopback("::1") && NetworkSyntax.isLoopback("localhost"))
        #expect(!NetworkSyntax.isLoopback("0.0.0.0") && !NetworkSyntax.isLoopback("127.example.com"))
    }
}
