import Testing
@testable import Config

/// Decoding YAML into `AppConfig`: types, strictness, and the exact error form
/// `file:line:column: key.path: expected <what>, found <what>` (issue 2, section 2).
/// Scalars resolve by the YAML 1.2.2 core schema (§10.3.2), narrowed: booleans are only
/// `true`/`false`, quoted scalars are always strings.
@Suite struct DecodingTests {
    func loadError(_ yaml: String, environment: [String: String] = [:], overrides: [String] = []) -> String? {
        do {
            _ = try ConfigLoader.load(yaml: yaml, file: "c.yaml", environment: environment, overrides: overrides)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func emptyDocumentIsTheEmbeddedDefaults() throws {
        #expect(try ConfigLoader.load(yaml: "") == AppConfig())
        #expect(try ConfigLoader.load(yaml: "# only a comment\n") == AppConfig())
        #expect(try ConfigLoader.load(yaml: "~\n") == AppConfig())
    }

    @Test func decodesEveryValueKind() throws {
        let config = try ConfigLoader.load(yaml: """
        server:
          port: 9443
          allow_plaintext: true
          name: 'quoted name'
          sse_ping_interval: 15s
          max_body: 512KiB
          response_mode: sse
          allowed_origins: [https://a.example, "https://b.example"]
        log: {level: warning, format: console}
        limits:
          request_rate: 2.5
          connection_rate_global: 100
          trusted_proxies:
            - 10.0.0.0/8
        auth:
          tokens:
            - name: one
              sha256: sha256:0000000000000000000000000000000000000000000000000000000000000000
              scopes: [read]
        """)
        #expect(config.server.port == 9443)
        #expect(config.server.allowPlaintext)
        #expect(config.server.name == "quoted name")
        #expect(config.server.ssePingInterval == .seconds(15))
        #expect(config.server.maxBody == .kibibytes(512))
        #expect(config.server.responseMode == .sse)
        #expect(config.server.allowedOrigins == ["https://a.example", "https://b.example"])
        #expect(config.log.level == .warning && config.log.format == .console)
        #expect(config.limits.requestRate == 2.5)
        #expect(config.limits.connectionRateGlobal == 100)
        #expect(config.limits.trustedProxies == ["10.0.0.0/8"])
        #expect(config.auth.tokens == [TokenConfig(name: "one", sha256: "sha256:" + String(repeating: "0", count: 64), scopes: [.read])])
        // Keys not given keep their defaults.
        #expect(config.server.httpPort == 9001 && config.tls == TLSConfig())
    }

    /// `server.protocol_version` is the newest revision `initialize` negotiates, so it must
    /// be a session-era revision the server speaks (2025-11-25 basic/lifecycle.mdx "Version
    /// Negotiation"); 2026-07-28 is not negotiated by `initialize`.
    @Test func protocolVersionIsASessionEraRevision() throws {
        #expect(try ConfigLoader.load(yaml: "server:\n  protocol_version: 2025-06-18\n").server.protocolVersion == "2025-06-18")
        let expected = "expected one of 2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25"
        #expect(loadError("server:\n  protocol_version: 2025-01-01\n") == "c.yaml:2:21: server.protocol_version: \(expected), found string \"2025-01-01\"")
        #expect(loadError("server:\n  protocol_version: 2026-07-28\n") == "c.yaml:2:21: server.protocol_version: \(expected), found string \"2026-07-28\"")
    }

    /// Values the server could not honour are refused at load, not cut down silently: a tool
    /// deadline over a day (the dispatcher's deadline table caps there), a message size over
    /// 64 MiB (a stdio line or HTTP body is held whole in memory, and JSON-RPC messages are
    /// small; the type alone allowed 1 TiB).
    @Test func operationTimeoutAndBodyCapsAreWhatTheServerHonours() throws {
        let config = try ConfigLoader.load(yaml: "timeout:\n  operation: 24h\nserver:\n  max_body: 64MiB\n")
        #expect(config.timeout.operation == .hours(24))
        #expect(config.server.maxBody == .mebibytes(64))
        #expect(loadError("timeout:\n  operation: 25h\n") == "c.yaml:2:14: timeout.operation: expected a duration in 1ms...24h, found string \"25h\"")
        #expect(loadError("server:\n  max_body: 65MiB\n") == "c.yaml:2:13: server.max_body: expected a size in 1B...64MiB, found string \"65MiB\"")
    }

    /// A certificate-bound token (RFC 8705 §3) names its certificate by SHA-256 thumbprint,
    /// and needs client certificates asked for: without them no connection could present it.
    @Test func certificateBoundTokenNeedsClientAuth() throws {
        let hex = String(repeating: "0f", count: 32)
        let mtls = "tls:\n  client_auth: optional\n  client_ca_file: /etc/ca.pem\n"
        let token = "auth:\n  tokens:\n    - name: a\n      env: A\n      client_cert_sha256: "
        let config = try ConfigLoader.load(yaml: mtls + token + "sha256:\(hex)\n")
        #expect(config.auth.tokens.first?.clientCertSha256 == "sha256:\(hex)")
        let colons = Array(repeating: "0F", count: 32).joined(separator: ":")
        #expect(try ConfigLoader.load(yaml: mtls + token + "\"\(colons)\"\n").auth.tokens.first?.clientCertSha256 == colons)
        #expect(loadError(mtls + token + "sha256:\(hex.dropLast())\n")?.contains("auth.tokens[0].client_cert_sha256: expected sha256:<64 hex digits>") == true)
        #expect(loadError(token + "sha256:\(hex)\n")?.contains("auth.tokens[0].client_cert_sha256: expected tls.client_auth optional or required") == true)
    }

    @Test func unknownKeyIsRefusedAtTheKey() {
        #expect(loadError("server:\n  prot: 1\n") == "c.yaml:2:3: server.prot: expected a known key (did you mean \"port\"?), found unknown key \"prot\"")
        #expect(loadError("srv: {}\n") == "c.yaml:1:1: srv: expected a known key, found unknown key \"srv\"")
        // camelCase spellings of known keys are not keys.
        #expect(loadError("server:\n  httpPort: 1\n") == "c.yaml:2:3: server.httpPort: expected a known key (did you mean \"http_port\"?), found unknown key \"httpPort\"")
        #expect(loadError("auth:\n  tokens:\n    - name: a\n      env: A\n      scope: [read]\n") == "c.yaml:5:7: auth.tokens[0].scope: expected a known key, found unknown key \"scope\"")
    }

    @Test func wrongTypeNamesWhatWasExpectedAndFound() {
        #expect(loadError("server:\n  port: \"8443\"\n") == "c.yaml:2:9: server.port: expected an integer, found string \"8443\"")
        #expect(loadError("server:\n  port: 1.5\n") == "c.yaml:2:9: server.port: expected an integer, found number 1.5")
        #expect(loadError("server:\n  port: 99999999999999999999\n") == "c.yaml:2:9: server.port: expected an integer in \(Int.min)...\(Int.max), found integer 99999999999999999999")
        #expect(loadError("server:\n  sse_enabled: yes\n") == "c.yaml:2:16: server.sse_enabled: expected a boolean (true or false), found string \"yes\"")
        #expect(loadError("server:\n  sse_enabled: \"true\"\n") == "c.yaml:2:16: server.sse_enabled: expected a boolean (true or false), found string \"true\"")
        #expect(loadError("server: 5\n") == "c.yaml:1:9: server: expected a mapping, found integer 5")
        #expect(loadError("server:\n  allowed_origins: https://a.example\n") == "c.yaml:2:20: server.allowed_origins: expected a list, found string \"https://a.example\"")
        #expect(loadError("server:\n  name: [a]\n") == "c.yaml:2:9: server.name: expected a string, found a list")
        #expect(loadError("server:\n  port:\n") == "c.yaml:2:8: server.port: expected an integer, found null")
        // In a token too: `scopes:` left empty granted read and write, `expires:` never expired.
        for field in ["scopes", "expires", "client_cert_sha256", "sha256"] {
            let error = loadError("auth:\n  tokens:\n    - name: a\n      env: A\n      \(field):\n")
            #expect(error?.contains("auth.tokens[0].\(field):") == true && error?.contains("found null") == true, "\(String(describing: error))")
        }
        #expect(loadError("limits:\n  request_rate: fast\n") == "c.yaml:2:17: limits.request_rate: expected a number, found string \"fast\"")
        #expect(loadError("limits:\n  request_rate: .inf\n") == "c.yaml:2:17: limits.request_rate: expected a number, found string \".inf\"")
        #expect(loadError("- a\n- b\n") == "c.yaml:1:1: expected a mapping of sections, found a list")
    }

    @Test func invalidValuesOfValueTypes() {
        #expect(loadError("log:\n  level: verbose\n") == "c.yaml:2:10: log.level: expected one of trace|debug|info|notice|warning|error|critical, found string \"verbose\"")
        #expect(loadError("server:\n  sse_ping_interval: 30\n") == "c.yaml:2:22: server.sse_ping_interval: expected a duration such as 250ms, 30s, 5m, 1h or 0 (at most 365 days), found integer 30")
        #expect(loadError("server:\n  max_body: 4 MB\n") == "c.yaml:2:13: server.max_body: expected a size such as 65536, 512KiB, 1MiB or 64KB (at most 1TiB), found string \"4 MB\"")
        #expect(loadError("auth:\n  tokens:\n    - name: a\n      env: A\n      scopes: [read, admin]\n") == "c.yaml:5:22: auth.tokens[0].scopes[1]: expected one of read|write, found string \"admin\"")
    }

    @Test func missingRequiredKey() {
        #expect(loadError("auth:\n  tokens:\n    - env: A\n") == "c.yaml:3:7: auth.tokens[0].name: expected a value for this required key, found none")
    }

    @Test func validationErrorsPointAtTheValue() throws {
        #expect(loadError("server:\n  port: 70000\n") == "c.yaml:2:9: server.port: expected a port in 0...65535, found integer 70000")
        #expect(loadError("server:\n  http_port: -1\n") == "c.yaml:2:14: server.http_port: expected a port in 0...65535, found integer -1")
        #expect(loadError("limits:\n  max_connections: 0\n") == "c.yaml:2:20: limits.max_connections: expected a count in 1...10000000, found integer 0")
        #expect(loadError("server:\n  http_max_connections: 0\n") == "c.yaml:2:25: server.http_max_connections: expected a count in 1...10000000, found integer 0")
        // Counts that size a table are bounded above too: these trapped at start.
        #expect(loadError("limits:\n  key_table_capacity: 2147483647\n") == "c.yaml:2:23: limits.key_table_capacity: expected a count in 1...10000000, found integer 2147483647")
        #expect(loadError("server:\n  http_max_connections: 3000000000\n") == "c.yaml:2:25: server.http_max_connections: expected a count in 1...10000000, found integer 3000000000")
        #expect(loadError("limits:\n  key_table_capacity: 10000000\n") == nil)
        // The shutdown's last bound: 0 would abandon every cancellation at once.
        #expect(try ConfigLoader.load(yaml: "server:\n  shutdown_cancel_timeout: 2s\n").server.shutdownCancelTimeout == .seconds(2))
        #expect(loadError("server:\n  shutdown_cancel_timeout: 0\n")?.contains("server.shutdown_cancel_timeout: expected a value greater than 0") == true)
        for bad in ["ops.example:9001", "*.example", "10.0.0.1", ""] {
            #expect(loadError("server:\n  http_allowed_hosts: [\"\(bad)\"]\n")?.contains("server.http_allowed_hosts[0]: expected a host name such as mcp.internal (no port, no wildcard)") == true, "\(bad)")
        }
        #expect(loadError("limits:\n  trusted_proxies: [10.0.0.0/8, 10.0.0.0/40]\n") == "c.yaml:2:33: limits.trusted_proxies[1]: expected a CIDR without host bits such as 10.0.0.0/8 or 2001:db8::/32, found string \"10.0.0.0/40\"")
        // A rate this small overflowed the limiter's arithmetic (1e-11 trapped at start; 1e-9 turned it off).
        for rate in ["0.00000000001", "0.000000001", "0.0009", "-1", "1000001"] {
            #expect(loadError("limits:\n  request_rate: \(rate)\n")?.contains("limits.request_rate: expected 0 (off) or a rate per second in 0.001...1000000") == true, "\(rate)")
        }
        #expect(loadError("limits:\n  request_rate: 0.001\n  request_burst: 1000000\n") == nil)
        #expect(loadError("limits:\n  request_burst: 1000001\n")?.contains("limits.request_burst: expected a burst of at most 1000000") == true)
        #expect(loadError("tls:\n  session_tickets: true\n  reload_interval: 0s\n")?.contains("tls.session_tickets: expected false while tls.reload_interval is 0") == true)
        for count in ["-1", "1000001"] {
            #expect(loadError("tls:\n  max_key_updates: \(count)\n")?.contains("tls.max_key_updates: expected a count in 0...1000000") == true, "\(count)")
        }
        #expect(loadError("tls:\n  max_key_updates: 0\n") == nil)
        #expect(loadError("server:\n  resumability: true\n  get_stream_enabled: false\n")?.contains("server.resumability: expected false while server.get_stream_enabled is false") == true)
        #expect(loadError("server:\n  resumability: true\n") == nil)
        // Under twice NIO's high write watermark the cap would close connections the HTTP layer
        // still sees as writable.
        #expect(try ConfigLoader.load(yaml: "").tls.maxBufferedCiphertext.bytes == 256 * 1024)
        #expect(try ConfigLoader.load(yaml: "tls:\n  max_buffered_ciphertext: 128KiB\n").tls.maxBufferedCiphertext.bytes == 128 * 1024)
        for bad in ["127KiB", "65MiB", "0"] {
            #expect(loadError("tls:\n  max_buffered_ciphertext: \(bad)\n")?.contains("tls.max_buffered_ciphertext: expected a size in 128KiB...64MiB") == true, "\(bad)")
        }
        #expect(loadError("limits:\n  forwarded_header: x-real-ip\n")?.hasSuffix("limits.forwarded_header: expected one of x-forwarded-for|forwarded, found string \"x-real-ip\"") == true)
        // What the address parser refuses must not reach it: it would start with no trusted proxy.
        #expect(loadError("limits:\n  trusted_proxies: [10.0.0.1/8]\n")?.contains("limits.trusted_proxies[0]: expected a CIDR without host bits") == true)
        #expect(loadError("limits:\n  trusted_proxies: [\"::ffff:10.0.0.0/8\"]\n")?.contains("limits.trusted_proxies[0]") == true)
        #expect(loadError("limits:\n  trusted_proxies: [\"::ffff:10.0.0.0/104\", \"::/0\", 0.0.0.0/0]\n") == nil)
        #expect(loadError("grafana:\n  datasource_hosts: [\"*.svc\", 10.0.0.0/8, \"http://x\"]\n") == "c.yaml:2:43: grafana.datasource_hosts[2]: expected a host name glob such as *.svc.cluster.local or an address block without host bits such as 10.0.0.0/8, found string \"http://x\"")
        #expect(loadError("grafana:\n  datasource_hosts: [10.0.0.0/8, \"::ffff:10.0.0.0/104\", 10.0.0.1/8]\n")?.hasSuffix("grafana.datasource_hosts[2]: expected a host name glob such as *.svc.cluster.local or an address block without host bits such as 10.0.0.0/8, found string \"10.0.0.1/8\"") == true)
        #expect(loadError("grafana:\n  datasource_hosts: [\"2001:db8::/32\", \"2001:db8::1/32\"]\n")?.contains("datasource_hosts[1]") == true)
        #expect(loadError("grafana:\n  datasource_hosts: [\"10.0.0.*\"]\n")?.contains("datasource_hosts[0]") == true, "a glob for addresses never matches one")
        #expect(loadError("grafana:\n  datasource_hosts: [\"*\", \"db-1.*\", \"1password.example\"]\n") == nil)
        #expect(loadError("grafana:\n  url: grafana.local\n") == "c.yaml:2:8: grafana.url: expected an http:// or https:// URL, found string \"grafana.local\"")
        #expect(loadError("tls:\n  client_auth: required\n") == "c.yaml:2:16: tls.client_auth: expected off while tls.client_ca_file is empty, found string \"required\"")
        #expect(loadError("tls:\n  enabled: false\nserver:\n  host: 0.0.0.0\n") == "c.yaml:4:9: server.host: expected a loopback address while tls.enabled is false (or server.allow_plaintext: true), found string \"0.0.0.0\"")
        #expect(loadError("tls:\n  enabled: false\nserver:\n  host: 0.0.0.0\n  allow_plaintext: true\n") == nil)
        #expect(loadError("tls:\n  cert_file: /x.crt\n") == "c.yaml:2:14: tls.cert_file: expected to be set together with tls.key_file, found string \"/x.crt\"")
    }

    @Test func tokenRules() {
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        #expect(loadError("auth:\n  tokens:\n    - name: a\n") == "c.yaml:3:7: auth.tokens[0]: expected exactly one of sha256, env or file, found a mapping")
        #expect(loadError("auth:\n  tokens:\n    - name: a\n      env: A\n      file: /f\n") == "c.yaml:3:7: auth.tokens[0]: expected exactly one of sha256, env or file, found a mapping")
        #expect(loadError("auth:\n  tokens:\n    - name: a\n      sha256: \"sha256:abc\"\n") == "c.yaml:4:15: auth.tokens[0].sha256: expected sha256:<64 lower-case hex digits> (see hash-token), found <redacted string>")
        #expect(loadError("auth:\n  tokens:\n    - {name: a, env: A}\n    - {name: a, env: B}\n") == "c.yaml:4:14: auth.tokens[1].name: expected a name not used by another token, found string \"a\"")
        #expect(loadError("auth:\n  tokens:\n    - {name: a, env: A, expires: tomorrow}\n") == "c.yaml:3:34: auth.tokens[0].expires: expected an RFC 3339 time such as 2027-01-31T00:00:00Z, found string \"tomorrow\"")
        #expect(loadError("auth:\n  tokens:\n    - {name: a, env: A, scopes: []}\n") == "c.yaml:3:33: auth.tokens[0].scopes: expected [read] or [read, write], found a list")
        // A write-only token is refused, not given the reading tools as well.
        #expect(loadError("auth:\n  tokens:\n    - {name: a, env: A, scopes: [write]}\n") == "c.yaml:3:33: auth.tokens[0].scopes: expected [read] or [read, write], found a list")
        #expect(loadError("auth:\n  tokens:\n    - {name: a, env: A, scopes: [write, read]}\n") == nil)
        #expect(loadError("auth:\n  tokens:\n    - {name: \"a b\", env: A}\n") == "c.yaml:3:14: auth.tokens[0].name: expected a name of 1...64 letters, digits, '.', '_' or '-', found string \"a b\"")
        #expect(loadError("auth:\n  tokens:\n    - {name: a, sha256: \"\(digest)\", expires: \"2027-01-31T00:00:00Z\"}\n") == nil)
    }
}
