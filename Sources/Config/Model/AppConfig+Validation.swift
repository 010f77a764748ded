/// Value checks that types alone cannot express (port ranges, positive caps, CIDRs, URLs,
/// token sources). Each failure names the key path; the loader adds the origin.
struct ConfigViolation: Equatable {
    var path: [String]
    var expected: String
    /// The value may hold a secret although its key is not a secret key (a URL with user
    /// info): the error shows only its kind.
    var redactsValue = false
}

extension AppConfig {
    /// The largest connection, session, stream or table count a key accepts.
    static let maxCount = 10_000_000

    /// Validates a configuration built in code (errors point at `<defaults>`).
    public func validate() throws(ConfigError) {
        let tree = (try? YAMLNodeEncoder.encode(self)) ?? .emptyMapping(origin: .defaults)
        try validate(against: tree)
    }

    /// Throws the first violation, positioned at the node of `tree` that set it.
    func validate(against tree: YAMLNode) throws(ConfigError) {
        guard let violation = violations().first else { return }
        let node = Self.node(at: violation.path, in: tree)
        var origin = node.origin
        if violation.redactsValue, case .flag = origin {
            origin = .flag("--set \(violation.path.joined(separator: "."))=<redacted>")
        }
        throw ConfigError(
            origin: origin, path: ConfigKeyPath.render(violation.path), expected: violation.expected,
            found: ScalarResolution.describe(node, secret: violation.redactsValue || ConfigKeyPath.isSecret(violation.path))
        )
    }

    /// The node that set the value at `path`: the deepest one that exists, or a list item
    /// of an `a,b,c` value from the environment or a flag.
    static func node(at path: [String], in tree: YAMLNode) -> YAMLNode {
        var current = tree
        for (depth, component) in path.enumerated() {
            if let next = current.node(at: [component]) {
                current = next
            } else if case let .scalar(scalar) = current.kind, current.origin.isCommandLineLike,
                      depth == path.count - 1, let index = Int(component) {
                let items = NodeDecoder.commaSeparatedItems(scalar.value, origin: current.origin)
                return items.indices.contains(index) ? items[index] : current
            } else {
                return current
            }
        }
        return current
    }

    func violations() -> [ConfigViolation] {
        var issues: [ConfigViolation] = []
        func check(_ condition: Bool, _ path: String, _ expected: String, redactsValue: Bool = false) {
            if !condition {
                issues.append(ConfigViolation(
                    path: path.split(separator: ".").map(String.init), expected: expected, redactsValue: redactsValue))
            }
        }
        let port = "a port in 0...65535"
        let positive = "a value greater than 0"
        let countRange = "a count in 1...\(Self.maxCount)"

        check(!server.name.isEmpty, "server.name", "a non-empty name")
        check(ServerConfig.protocolRevisions.contains(server.protocolVersion), "server.protocol_version",
              "one of " + ServerConfig.protocolRevisions.joined(separator: ", "))
        check(!server.host.isEmpty, "server.host", "a host address")
        check((0...65535).contains(server.port), "server.port", port)
        check(!server.httpHost.isEmpty, "server.http_host", "a host address")
        check((0...65535).contains(server.httpPort), "server.http_port", port)
        check((1...Self.maxCount).contains(server.httpMaxConnections), "server.http_max_connections", countRange)
        for (index, host) in server.httpAllowedHosts.enumerated() {
            check(NetworkSyntax.isHostName(host), "server.http_allowed_hosts.\(index)", "a host name such as mcp.internal (no port, no wildcard)")
        }
        check((0...65535).contains(server.apiPort), "server.api_port", port)
        check((0...65535).contains(server.ssePort), "server.sse_port", port)
        check(server.ssePingInterval.milliseconds > 0, "server.sse_ping_interval", positive)
        for (index, origin) in server.allowedOrigins.enumerated() {
            check(NetworkSyntax.isHTTPURL(origin), "server.allowed_origins.\(index)", "an origin such as https://app.example.com")
        }
        check((1...Self.maxCount).contains(server.replayBufferEvents), "server.replay_buffer_events", countRange)
        // Each session may hold this much: past a gibibyte the cap no longer bounds anything.
        check((1024...(1 << 30)).contains(server.replayBufferBytes.bytes), "server.replay_buffer_bytes", "a size in 1KiB...1GiB")
        check((1...Self.maxCount).contains(server.replayMaxStreams), "server.replay_max_streams", countRange)
        check(server.sessionIdleTimeout.milliseconds > 0, "server.session_idle_timeout", positive)
        check(server.shutdownCancelTimeout.milliseconds > 0, "server.shutdown_cancel_timeout", positive)
        check((1...1000).contains(server.pageSize), "server.page_size", "a page size in 1...1000")
        // A stdio line or HTTP body is held whole, and parsed, in memory.
        check(server.maxBody.bytes > 0 && server.maxBody.bytes <= 64 << 20, "server.max_body", "a size in 1B...64MiB")
        check((1...1000).contains(server.maxJsonDepth), "server.max_json_depth", "a depth in 1...1000")
        check((1_000...10_000_000).contains(server.maxJsonValues), "server.max_json_values", "a count in 1000...10000000")
        check((1...1000).contains(server.maxBatch), "server.max_batch", "a count in 1...1000")
        check((64 << 10...1 << 30).contains(server.maxBatchAnswerBytes.bytes), "server.max_batch_answer_bytes", "a size in 64KiB...1GiB")
        // Fail closed: plaintext beyond loopback must be asked for explicitly.
        check(
            tls.enabled || server.allowPlaintext || NetworkSyntax.isLoopback(server.host), "server.host",
            "a loopback address while tls.enabled is false (or server.allow_plaintext: true)"
        )

        check(tls.certFile.isEmpty == tls.keyFile.isEmpty, tls.certFile.isEmpty ? "tls.key_file" : "tls.cert_file",
              tls.certFile.isEmpty ? "to be set together with tls.cert_file" : "to be set together with tls.key_file")
        check(tls.clientAuth == .off || !tls.clientCaFile.isEmpty, "tls.client_auth", "off while tls.client_ca_file is empty")
        check(tls.handshakeTimeout.milliseconds > 0, "tls.handshake_timeout", positive)
        // At least twice NIO's default high write watermark (64 KiB), which the HTTP layer waits
        // under: a smaller cap would be met, and the connection closed, while the channel still
        // reads as writable (the count runs up to an eighth of the cap over the truth).
        check((128 * 1024...64 * 1024 * 1024).contains(tls.maxBufferedCiphertext.bytes), "tls.max_buffered_ciphertext",
              "a size in 128KiB...64MiB")
        check((0...1_000_000).contains(tls.maxKeyUpdates), "tls.max_key_updates", "a count in 0...1000000")
        // A stream is resumed by a GET with Last-Event-ID (2025-11-25 basic/transports.mdx
        // "Resumability and Redelivery"): without the GET route every resume got a 405, while
        // the POST streams still promised one (event ids, `retry`).
        check(!server.resumability || server.getStreamEnabled, "server.resumability", "false while server.get_stream_enabled is false")
        // Ticket keys are rotated by the reload loop; without it they would never change.
        check(!tls.sessionTickets || tls.reloadInterval.milliseconds > 0, "tls.session_tickets", "false while tls.reload_interval is 0")

        var names: Set<String> = []
        for (index, token) in auth.tokens.enumerated() {
            let base = "auth.tokens.\(index)"
            check(isTokenName(token.name), "\(base).name", "a name of 1...64 letters, digits, '.', '_' or '-'")
            check(names.insert(token.name).inserted, "\(base).name", "a name not used by another token")
            let sources = [token.sha256, token.env, token.file].filter { !$0.isEmpty }.count
            check(sources == 1, base, "exactly one of sha256, env or file")
            // Not shown when refused: a token pasted here by mistake would be printed and logged.
            if !token.sha256.isEmpty {
                check(isDigest(token.sha256), "\(base).sha256", "sha256:<64 lower-case hex digits> (see hash-token)", redactsValue: true)
            }
            if !token.env.isEmpty {
                check(isVariableName(token.env), "\(base).env", "an environment variable name", redactsValue: true)
            }
            // Every tool needs `read`; `write` adds the tools that change something. A token with
            // `write` alone used to call every tool, reading ones too, as if it had both.
            check(token.scopes.contains(.read), "\(base).scopes", "[read] or [read, write]")
            check(token.expires.isEmpty || token.expiresAt != nil, "\(base).expires", "an RFC 3339 time such as 2027-01-31T00:00:00Z")
            if !token.clientCertSha256.isEmpty {
                check(isThumbprint(token.clientCertSha256), "\(base).client_cert_sha256",
                      "sha256:<64 hex digits>, or the AB:CD:… pairs of openssl x509 -noout -fingerprint -sha256")
                // Without client certificates no connection could ever present it.
                check(tls.enabled && tls.clientAuth != .off, "\(base).client_cert_sha256", "tls.client_auth optional or required")
            }
        }
        // "Bearer " and a 32-byte token in base64 take about 50 bytes.
        check((64...(64 << 10)).contains(auth.maxHeaderBytes.bytes), "auth.max_header_bytes", "a size in 64B...64KiB")
        check(auth.failureMax > 0, "auth.failure_max", positive)
        check(auth.failureWindow.milliseconds > 0, "auth.failure_window", positive)
        // 0 would lock no one out while still counting lockouts.
        check(auth.lockout.milliseconds > 0, "auth.lockout", positive)

        let caps: [(Int, String)] = [
            (limits.maxConnections, "max_connections"), (limits.maxConnectionsPerIp, "max_connections_per_ip"),
            (limits.connectionBurstPerIp, "connection_burst_per_ip"), (limits.maxHandshakes, "max_handshakes"),
            (limits.maxHandshakesPerIp, "max_handshakes_per_ip"),
            (limits.maxHeaderCount, "max_header_count"), (limits.requestBurst, "request_burst"),
            (limits.keyTableCapacity, "key_table_capacity"), (limits.maxSseStreams, "max_sse_streams"),
            (limits.maxSseStreamsPerToken, "max_sse_streams_per_token"), (limits.maxSessions, "max_sessions"),
            (limits.maxSessionsPerToken, "max_sessions_per_token"), (limits.maxInflightPerToken, "max_inflight_per_token"),
            (limits.maxInflight, "max_inflight"),
        ]
        // Bounded above as well: tables sized by these counts trap at start beyond 2^31 entries,
        // which validation used to let through.
        for (value, key) in caps { check((1...Self.maxCount).contains(value), "limits.\(key)", countRange) }
        check(limits.bodyMinRate.bytes > 0, "limits.body_min_rate", positive)
        // Below a kibibyte hardly a request line and its Host fit (the ops port's probes too).
        check((1024...(1 << 20)).contains(limits.maxHeaderBytes.bytes), "limits.max_header_bytes", "a size in 1KiB...1MiB")
        check((1024...(1 << 30)).contains(limits.sseWriteBuffer.bytes), "limits.sse_write_buffer", "a size in 1KiB...1GiB")
        check(((1 << 20)...(64 << 30)).contains(limits.maxUnsentBytes.bytes), "limits.max_unsent_bytes", "a size in 1MiB...64GiB")
        check(((1 << 20)...(64 << 30)).contains(limits.maxBufferedBodyBytes.bytes), "limits.max_buffered_body_bytes", "a size in 1MiB...64GiB")
        check(((1 << 20)...(64 << 30)).contains(limits.maxInflightRequestBytes.bytes), "limits.max_inflight_request_bytes", "a size in 1MiB...64GiB")
        // One body of server.max_body must fit by itself, counted as the buffer holding it
        // (grown to a power of two): otherwise it would be closed for its own bytes, and a
        // client could never send it.
        var bodyBuffer = 1
        while bodyBuffer < server.maxBody.bytes { bodyBuffer <<= 1 }
        check(limits.maxBufferedBodyBytes.bytes >= bodyBuffer, "limits.max_buffered_body_bytes",
              "at least server.max_body rounded up to a power of two (\(ByteSize(bytes: bodyBuffer)))")
        let rates: [(Double, String)] = [
            (limits.connectionRatePerIp, "connection_rate_per_ip"), (limits.connectionRateGlobal, "connection_rate_global"),
            (limits.requestRate, "request_rate"), (limits.toolRate, "tool_rate"),
        ]
        // Below one per 1,000 s a GCRA's interval times its burst leaves 63 bits (the limiter
        // would be off, or the conversion trap at start).
        for (value, key) in rates {
            check(value == 0 || (value >= 0.001 && value <= 1_000_000), "limits.\(key)", "0 (off) or a rate per second in 0.001...1000000")
        }
        for (value, key) in [(limits.connectionBurstPerIp, "connection_burst_per_ip"), (limits.requestBurst, "request_burst"), (limits.toolBurst, "tool_burst")] {
            check(value <= 1_000_000, "limits.\(key)", "a burst of at most 1000000")
        }
        check(limits.toolBurst >= (limits.toolRate > 0 ? 1 : 0), "limits.tool_burst", limits.toolRate > 0 ? "a burst of at least 1 when tool_rate is set" : "a value of at least 0")
        for (value, key) in [(limits.headerTimeout, "header_timeout"), (limits.idleTimeout, "idle_timeout"), (limits.bodyTimeout, "body_timeout")] {
            check(value.milliseconds > 0, "limits.\(key)", positive)
        }
        check(limits.sendTimeout.milliseconds == 0 || (1000...3_600_000).contains(limits.sendTimeout.milliseconds),
              "limits.send_timeout", "0 (off) or a duration in 1s...1h")
        check((1...65535).contains(limits.listenBacklog), "limits.listen_backlog", "a count in 1...65535")
        check((32...64).contains(limits.ipv6Prefix), "limits.ipv6_prefix", "a prefix length in 32...64")
        // A linger only lets a refusal be read; longer ones just hold connections.
        check(limits.lingerTimeout.milliseconds > 0 && limits.lingerTimeout.milliseconds <= 60_000, "limits.linger_timeout", "a duration in 1ms...60s")
        for (index, cidr) in limits.trustedProxies.enumerated() {
            check(NetworkSyntax.isBlockWithoutHostBits(cidr), "limits.trusted_proxies.\(index)", "a CIDR without host bits such as 10.0.0.0/8 or 2001:db8::/32")
        }

        check(timeout.http.milliseconds > 0, "timeout.http", positive)
        // The dispatcher's deadline table caps a tool deadline at a day.
        check(timeout.operation.milliseconds > 0 && timeout.operation.milliseconds <= 86_400_000, "timeout.operation", "a duration in 1ms...24h")
        // A result is held in memory several times (text, structuredContent, the backend's
        // answer at up to four times it): past 256 MiB the cap no longer bounds anything.
        check((1024...(256 << 20)).contains(tools.maxResultBytes.bytes), "tools.max_result_bytes", "a size in 1KiB...256MiB")
        check((1...10_000).contains(tools.maxBackendConnections), "tools.max_backend_connections", "a count in 1...10000")

        // Secrets pasted with a trailing newline or space never match; say so without
        // printing them.
        let secrets: [(String, String)] = [
            (server.apiToken, "server.api_token"), (grafana.token, "grafana.token"), (portainer.token, "portainer.token"),
            (silverbullet.token, "silverbullet.token"), (vikunja.token, "vikunja.token"),
            (prometheus.token, "prometheus.token"), (prometheus.password, "prometheus.password"),
        ]
        for (value, path) in secrets {
            let clean = !value.unicodeScalars.contains { $0 == "\n" || $0 == "\r" }
                && value.unicodeScalars.first?.properties.isWhitespace != true
                && value.unicodeScalars.last?.properties.isWhitespace != true
            check(clean, path, "a secret without surrounding whitespace or line breaks")
        }

        let backends: [(String, String)] = [
            (grafana.url, "grafana"), (portainer.url, "portainer"), (silverbullet.url, "silverbullet"),
            (vikunja.url, "vikunja"), (prometheus.url, "prometheus"),
        ]
        for (url, name) in backends where !url.isEmpty {
            // Refused here rather than by every tool call, and never printed: user info or
            // a query may hold a password or an API key.
            let mayHoldSecret = NetworkSyntax.hasUserInfoQueryOrFragment(url)
            check(NetworkSyntax.isHTTPURL(url), "\(name).url", "an http:// or https:// URL", redactsValue: mayHoldSecret)
            check(!mayHoldSecret, "\(name).url",
                  "a URL without user info, query or fragment (credentials belong in \(name).token)", redactsValue: true)
        }
        for (index, entry) in grafana.datasourceHosts.enumerated() {
            check(NetworkSyntax.isBlockWithoutHostBits(entry) || NetworkSyntax.isHostGlob(entry), "grafana.datasource_hosts.\(index)",
                  "a host name glob such as *.svc.cluster.local or an address block without host bits such as 10.0.0.0/8")
        }
        return issues
    }

    private func isTokenName(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count) && text.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z"))
                || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    private func isDigest(_ text: String) -> Bool {
        guard text.hasPrefix("sha256:") else { return false }
        let hex = text.utf8.dropFirst(7)
        return hex.count == 64 && hex.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) }
    }

    /// What `CertificateThumbprint(parsing:)` (Auth) takes: `sha256:` optional, then 64 hex
    /// digits in either case, or 32 pairs separated by colons.
    private func isThumbprint(_ text: String) -> Bool {
        let digits = Array(text.hasPrefix("sha256:") ? text.utf8.dropFirst(7) : text.utf8.dropFirst(0))
        let isHex = { (byte: UInt8) in (byte >= 48 && byte <= 57) || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "f")) }
        if digits.count == 64 { return digits.allSatisfy(isHex) }
        return digits.count == 95 && digits.indices.allSatisfy { $0 % 3 == 2 ? digits[$0] == UInt8(ascii: ":") : isHex(digits[$0]) }
    }

    private func isVariableName(_ text: String) -> Bool {
        guard let first = text.utf8.first, !(first >= 48 && first <= 57), text.utf8.count <= 256 else { return false }
        return text.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z"))
                || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "_")
        }
    }
}
