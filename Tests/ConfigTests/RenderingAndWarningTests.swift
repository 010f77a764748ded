import Testing
@testable import Config

@Suite struct RenderingAndWarningTests {
    /// `check-config` output is valid YAML that loads back to the same configuration.
    @Test func renderedOutputRoundTrips() throws {
        let config = try ConfigLoader.load(yaml: """
        server:
          name: "odd: name # with \\"quotes\\" and\\ttab"
          allowed_origins: [https://a.example]
          max_body: 1500
        auth:
          tokens:
            - name: a
              env: TOKEN_A
              scopes: [read]
              expires: "2027-01-01T00:00:00Z"
            - name: b
              sha256: "sha256:\(String(repeating: "0", count: 64))"
        limits:
          trusted_proxies: [10.0.0.0/8, "2001:db8::/32"]
          request_rate: 0.5
        """)
        let text = config.rendered(redacted: false)
        let reloaded = try ConfigLoader.load(yaml: text, file: "rendered.yaml")
        #expect(reloaded == config)
        #expect(text.contains("  tokens:\n    - name: a\n      sha256: \"\"\n      env: TOKEN_A\n"))
        #expect(AppConfig.defaultsYAML.hasPrefix("server:\n  name: axinova-mcp-server\n"))
        // Words YAML 1.1 reads as booleans stay quoted for other tools.
        #expect(AppConfig.defaultsYAML.contains("  client_auth: \"off\"\n"))
        #expect(try ConfigLoader.load(yaml: AppConfig.defaultsYAML) == AppConfig())
    }

    @Test func defaultsWarnAboutMissingTokensAndCertificates() {
        let warnings = AppConfig().warnings()
        #expect(warnings == [
            "tls.enabled is true but tls.cert_file/tls.key_file are empty: only a loopback host starts (with development certificates)",
            "no bearer tokens (auth.tokens, server.api_token): only a loopback host starts (with a token generated for the run)",
        ])
    }

    @Test func unsafeSettingsWarn() throws {
        let config = try ConfigLoader.load(yaml: """
        server:
          host: 0.0.0.0
          allow_plaintext: true
          http_host: 0.0.0.0
          api_token: tiny-pw-1
        tls:
          enabled: false
          skip_verify: true
        limits:
          request_rate: 0
          connection_rate_per_ip: 0
        """)
        let warnings = config.warnings()
        #expect(warnings.count == 6)
        #expect(warnings.contains { $0.hasPrefix("server.host 0.0.0.0 serves MCP without TLS") })
        #expect(warnings.contains { $0.hasPrefix("server.http_host 0.0.0.0 exposes the plaintext ops listener") })
        #expect(warnings.contains { $0.hasPrefix("server.api_token is shorter than 32 bytes") })
        #expect(warnings.contains { $0.hasPrefix("tls.skip_verify is true") })
        #expect(warnings.contains("limits.request_rate is 0: that rate limit is disabled"))
        #expect(warnings.contains("limits.connection_rate_per_ip is 0: that rate limit is disabled"))
        #expect(!warnings.joined().contains("tiny-pw-1"))
    }

    /// A large result goes into the replay buffer as one event about twice its size; with a
    /// buffer under three results it is kept only until the session's next event.
    @Test func aReplayBufferTooSmallForALargeResultWarns() throws {
        let base = "tls: {cert_file: /c.pem, key_file: /k.pem}\nauth: {tokens: [{name: a, env: A}]}\n"
        let small = try ConfigLoader.load(yaml: base + "server: {resumability: true}\n")
        #expect(small.warnings().contains { $0.hasPrefix("server.replay_buffer_bytes is less than three times tools.max_result_bytes") })
        #expect(try ConfigLoader.load(yaml: base + "server: {resumability: true, replay_buffer_bytes: 3MiB}\n").warnings() == [])
        #expect(try ConfigLoader.load(yaml: base).warnings() == [], "resumability off: no buffer")
    }

    /// An answer counts against `limits.max_unsent_bytes` until the kernel has taken it: a
    /// budget under a few large results closes a slow reader of one for it alone.
    @Test func anUnsentBudgetTooSmallForALargeResultWarns() throws {
        let base = "tls: {cert_file: /c.pem, key_file: /k.pem}\nauth: {tokens: [{name: a, env: A}]}\n"
        let small = try ConfigLoader.load(yaml: base + "limits: {max_unsent_bytes: 3MiB}\n")
        #expect(small.warnings().contains { $0.hasPrefix("limits.max_unsent_bytes is less than four times tools.max_result_bytes") })
        #expect(try ConfigLoader.load(yaml: base + "limits: {max_unsent_bytes: 4MiB}\n").warnings() == [])
        // An SSE stream's queue counts too, and a resume's replay with it.
        let prefix = "limits.max_unsent_bytes is less than four times limits.sse_write_buffer"
        let queue = try ConfigLoader.load(yaml: base + "limits: {max_unsent_bytes: 16MiB, sse_write_buffer: 5MiB}\n")
        #expect(queue.warnings().contains { $0.hasPrefix(prefix) })
        let replay = try ConfigLoader.load(yaml: base + "limits: {max_unsent_bytes: 16MiB}\nserver: {resumability: true, replay_buffer_bytes: 4MiB}\n")
        #expect(replay.warnings().contains { $0.hasPrefix(prefix) })
        #expect(try ConfigLoader.load(yaml: base + "limits: {max_unsent_bytes: 16MiB, sse_write_buffer: 4MiB}\n").warnings() == [])
    }

    /// A call's request is charged as parsed, up to four and a half times its body: a budget under
    /// a few of the largest lets such a call run only when no other does.
    @Test func anInflightRequestBudgetTooSmallForALargeRequestWarns() throws {
        let base = "tls: {cert_file: /c.pem, key_file: /k.pem}\nauth: {tokens: [{name: a, env: A}]}\n"
        let small = try ConfigLoader.load(yaml: base + "limits: {max_inflight_request_bytes: 15MiB}\n")
        #expect(small.warnings().contains { $0.hasPrefix("limits.max_inflight_request_bytes is less than four times server.max_body") })
        #expect(try ConfigLoader.load(yaml: base + "limits: {max_inflight_request_bytes: 16MiB}\n").warnings() == [])
    }

    @Test func expiredTokensWarnWithAnInjectedClock() throws {
        let config = try ConfigLoader.load(yaml: """
        tls: {cert_file: /c.pem, key_file: /k.pem}
        auth:
          tokens:
            - {name: old, env: A, expires: "2026-01-01T00:00:00Z"}
            - {name: new, env: B, expires: "2027-01-01T00:00:00Z"}
        """)
        let january2026 = RFC3339.parse("2026-01-01T00:00:00Z")!
        #expect(config.warnings(now: january2026 - 1) == [])
        #expect(config.warnings(now: january2026) == ["auth.tokens[0] (old) expired at 2026-01-01T00:00:00Z: it is refused"])
        #expect(config.warnings() == [])
    }

    /// Behind a trusted proxy the TLS client is the proxy, so a certificate binding checks the
    /// proxy's connection: it loads (the proxy may forward mTLS of its own) but is reported.
    @Test func certificateBindingBehindATrustedProxyWarns() throws {
        let yaml = """
        tls: {cert_file: /c.pem, key_file: /k.pem, client_auth: optional, client_ca_file: /ca.pem}
        auth:
          tokens:
            - {name: bound, env: A, client_cert_sha256: "sha256:\(String(repeating: "ab", count: 32))"}
            - {name: free, env: B}
        """
        #expect(try ConfigLoader.load(yaml: yaml).warnings() == [])
        let behind = try ConfigLoader.load(yaml: yaml + "\nlimits: {trusted_proxies: [10.0.0.0/8]}\n")
        #expect(behind.warnings() == ["auth.tokens[0] (bound) is bound to a client certificate while limits.trusted_proxies is set: behind a proxy the certificate checked is the proxy's connection's, not the client's"])
    }

    @Test func unknownKeySuggestions() {
        #expect(KnownKeys.distance("prot", "port") == 1)
        #expect(KnownKeys.distance("httpport", "http_port") == 1)
        #expect(KnownKeys.distance("", "abc") == 3)
        #expect(KnownKeys.nearest("prot", in: ["port", "host"]) == "port")
        #expect(KnownKeys.nearest("nope", in: ["name"]) == nil)
        #expect(KnownKeys.nearest("max_conections", in: ["max_connections", "max_handshakes"]) == "max_connections")
    }

    @Test func safeConfigurationHasNoWarnings() throws {
        let config = try ConfigLoader.load(yaml: """
        tls: {cert_file: /c.pem, key_file: /k.pem}
        auth:
          tokens: [{name: a, file: /run/secrets/a}]
        """)
        #expect(config.warnings() == [])
    }

    @Test("limits.linger_timeout is a positive duration of at most a minute")
    func lingerTimeoutIsBounded() throws {
        for bad in ["0s", "61s"] {
            do {
                _ = try ConfigLoader.load(yaml: "limits: {linger_timeout: \(bad)}")
                Issue.record("linger_timeout \(bad) accepted")
            } catch {
                #expect(error.path == "limits.linger_timeout" && error.expected == "a duration in 1ms...60s")
            }
        }
        #expect(try ConfigLoader.load(yaml: "limits: {linger_timeout: 60s}").limits.lingerTimeout == .seconds(60))
        #expect(try ConfigLoader.load(yaml: "").limits.lingerTimeout == .seconds(2))
    }

    /// A lockout of 0 would lock no one out while `mcp_auth_lockouts_total` went on counting
    /// lockouts; and a session's remembered streams must be at least one.
    @Test("auth.lockout and server.replay_max_streams are positive")
    func lockoutAndReplayStreamsArePositive() throws {
        for (yaml, path) in [("auth: {lockout: 0s}", "auth.lockout"), ("server: {replay_max_streams: 0}", "server.replay_max_streams")] {
            do {
                _ = try ConfigLoader.load(yaml: yaml)
                Issue.record("\(yaml) accepted")
            } catch {
                #expect(error.path == path && error.expected == (path == "auth.lockout" ? "a value greater than 0" : "a count in 1...10000000"))
            }
        }
        #expect(try ConfigLoader.load(yaml: "server: {replay_max_streams: 2}").server.replayMaxStreams == 2)
    }

    @Test("limits.ipv6_prefix is a prefix length in 32...64, 64 by default")
    func ipv6Prefix() throws {
        #expect(try ConfigLoader.load(yaml: "").limits.ipv6Prefix == 64)
        #expect(try ConfigLoader.load(yaml: "limits: {ipv6_prefix: 48}").limits.ipv6Prefix == 48)
        for value in [31, 65, 128] {
            do {
                _ = try ConfigLoader.load(yaml: "limits: {ipv6_prefix: \(value)}")
                Issue.record("ipv6_prefix \(value) accepted")
            } catch {
                #expect(error.path == "limits.ipv6_prefix" && error.expected == "a prefix length in 32...64")
            }
        }
    }

    /// Byte caps have a range, not just a sign: below it the server could not take a request
    /// line (or silently raised the value), above it the cap bounds nothing.
    @Test("byte caps are refused outside their range, and accepted at its ends", arguments: [
        ("limits", "max_header_bytes", "1023B", "1KiB", "1MiB", "1025KiB", "a size in 1KiB...1MiB"),
        ("limits", "sse_write_buffer", "1023B", "1KiB", "1GiB", "1025MiB", "a size in 1KiB...1GiB"),
        ("limits", "max_unsent_bytes", "1023KiB", "1MiB", "64GiB", "65GiB", "a size in 1MiB...64GiB"),
        ("limits", "max_inflight_request_bytes", "1023KiB", "1MiB", "64GiB", "65GiB", "a size in 1MiB...64GiB"),
        ("server", "replay_buffer_bytes", "1023B", "1KiB", "1GiB", "1025MiB", "a size in 1KiB...1GiB"),
        ("tools", "max_result_bytes", "1023B", "1KiB", "256MiB", "257MiB", "a size in 1KiB...256MiB"),
        ("auth", "max_header_bytes", "63B", "64B", "64KiB", "65KiB", "a size in 64B...64KiB"),
    ])
    func byteCapRanges(section: String, key: String, below: String, low: String, high: String, above: String, expected: String) throws {
        for value in [below, above] {
            do {
                _ = try ConfigLoader.load(yaml: "\(section): {\(key): \(value)}")
                Issue.record("\(section).\(key): \(value) accepted")
            } catch {
                #expect(error.path == "\(section).\(key)" && error.expected == expected, "\(error)")
            }
        }
        for value in [low, high] {
            #expect(throws: Never.self) { try ConfigLoader.load(yaml: "\(section): {\(key): \(value)}") }
        }
    }

    @Test("limits.max_buffered_body_bytes is a size in 1MiB...64GiB, at least server.max_body's buffer; 256MiB by default")
    func bufferedBodyBytes() throws {
        #expect(try ConfigLoader.load(yaml: "").limits.maxBufferedBodyBytes.bytes == 256 << 20)
        func refusal(_ yaml: String) -> (path: String, expected: String)? {
            do {
                _ = try ConfigLoader.load(yaml: yaml)
                return nil
            } catch {
                return (error.path, error.expected)
            }
        }
        for value in ["1023KiB", "65GiB"] {
            let r = refusal("server: {max_body: 1KiB}\nlimits: {max_buffered_body_bytes: \(value)}")
            #expect(r?.path == "limits.max_buffered_body_bytes" && r?.expected == "a size in 1MiB...64GiB", "\(value): \(String(describing: r))")
        }
        #expect(refusal("server: {max_body: 1MiB}\nlimits: {max_buffered_body_bytes: 1MiB}") == nil)
        #expect(refusal("server: {max_body: 600KiB}\nlimits: {max_buffered_body_bytes: 1MiB}") == nil)
        #expect(refusal("limits: {max_buffered_body_bytes: 64GiB}") == nil)
        // A body of server.max_body must fit by itself, as the buffer holding it: a power of
        // two (the default max_body is 4MiB).
        for (maxBody, budget, buffer) in [("4MiB", "3MiB", "4MiB"), ("1025KiB", "1MiB", "2MiB")] {
            let r = refusal("server: {max_body: \(maxBody)}\nlimits: {max_buffered_body_bytes: \(budget)}")
            #expect(r?.path == "limits.max_buffered_body_bytes"
                    && r?.expected == "at least server.max_body rounded up to a power of two (\(buffer))", "\(String(describing: r))")
        }
    }

    @Test("limits.send_timeout is 0 (off) or 1s...1h; 2m by default")
    func sendTimeout() throws {
        #expect(try ConfigLoader.load(yaml: "").limits.sendTimeout == .seconds(120))
        #expect(try ConfigLoader.load(yaml: "limits: {send_timeout: 0}").limits.sendTimeout.milliseconds == 0)
        #expect(try ConfigLoader.load(yaml: "limits: {send_timeout: 5s}").limits.sendTimeout == .seconds(5))
        for value in ["500ms", "2h"] {
            do {
                _ = try ConfigLoader.load(yaml: "limits: {send_timeout: \(value)}")
                Issue.record("\(value) accepted")
            } catch {
                #expect(error.path == "limits.send_timeout")
            }
        }
    }

    @Test("server.max_batch, server.max_batch_answer_bytes and server.max_json_values are read and bounded",
          arguments: [("server: {max_batch: 0}", "server.max_batch"), ("server: {max_batch: 1001}", "server.max_batch"),
                      ("server: {max_batch_answer_bytes: 63KiB}", "server.max_batch_answer_bytes"),
                      ("server: {max_batch_answer_bytes: 1025MiB}", "server.max_batch_answer_bytes"),
                      ("server: {max_json_values: 999}", "server.max_json_values"),
                      ("server: {max_json_values: 10000001}", "server.max_json_values")])
    func inputCaps(yaml: String, path: String) throws {
        do {
            _ = try ConfigLoader.load(yaml: yaml)
            Issue.record("\(yaml) accepted")
        } catch {
            #expect(error.path == path)
        }
        let defaults = try ConfigLoader.load(yaml: "")
        #expect(defaults.server.maxBatch == 64 && defaults.server.maxJsonValues == 100_000)
        #expect(defaults.server.maxBatchAnswerBytes.bytes == 8 << 20)
        let set = try ConfigLoader.load(yaml: "server: {max_batch: 8, max_json_values: 5000, max_batch_answer_bytes: 64KiB}")
        #expect(set.server.maxBatch == 8 && set.server.maxJsonValues == 5000 && set.server.maxBatchAnswerBytes.bytes == 64 << 10)
    }

    /// A config from before the key, with max_handshakes under its default of 16, still
    /// loads: a per-address cap above the global one never binds.
    @Test("limits.max_handshakes_per_ip is positive; above max_handshakes it is not an error")
    func handshakesPerIpIsBounded() throws {
        for (yaml, expected) in [
            ("limits: {max_handshakes_per_ip: 0}", "a count in 1...10000000"),
        ] {
            do {
                _ = try ConfigLoader.load(yaml: yaml)
                Issue.record("\(yaml) accepted")
            } catch {
                #expect(error.path == "limits.max_handshakes_per_ip" && error.expected == expected)
            }
        }
        #expect(try ConfigLoader.load(yaml: "limits: {max_handshakes: 8, max_handshakes_per_ip: 8}").limits.maxHandshakesPerIp == 8)
        #expect(try ConfigLoader.load(yaml: "limits: {max_handshakes: 8}").limits.maxHandshakesPerIp == 16)
        #expect(try ConfigLoader.load(yaml: "").limits.maxHandshakesPerIp == 16)
    }

    @Test func validateChecksConfigsBuiltInCode() {
        var config = AppConfig()
        config.server.port = 70000
        #expect(throws: ConfigError(origin: .defaults, path: "server.port", expected: "a port in 0...65535", found: "integer 70000")) {
            try config.validate()
        }
        #expect(throws: Never.self) { try AppConfig().validate() }
    }
}
