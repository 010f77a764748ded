extension AppConfig {
    /// Settings that load but are unsafe, one sentence each, for the startup log and
    /// `check-config`. Never contains a secret value. With `now` (seconds since 1970,
    /// injected so tests need no clock), tokens already expired are reported too.
    public func warnings(now: Int64? = nil) -> [String] {
        var result: [String] = []
        if !tls.enabled && server.allowPlaintext && !NetworkSyntax.isLoopback(server.host) {
            result.append("server.host \(server.host) serves MCP without TLS (tls.enabled false, server.allow_plaintext true): bearer tokens cross the network in cleartext")
        }
        if server.httpEnabled && !NetworkSyntax.isLoopback(server.httpHost) {
            result.append("server.http_host \(server.httpHost) exposes the plaintext ops listener (health, status, metrics) beyond loopback without authentication")
        }
        if tls.enabled && (tls.certFile.isEmpty || tls.keyFile.isEmpty) {
            result.append("tls.enabled is true but tls.cert_file/tls.key_file are empty: only a loopback host starts (with development certificates)")
        }
        if auth.tokens.isEmpty && server.apiToken.isEmpty {
            result.append("no bearer tokens (auth.tokens, server.api_token): only a loopback host starts (with a token generated for the run)")
        }
        if !server.apiToken.isEmpty && server.apiToken.utf8.count < 32 {
            result.append("server.api_token is shorter than 32 bytes: use a long random token, or auth.tokens with a sha256 digest")
        }
        // A JSON result is written twice (text and structuredContent), escaped: an event near
        // the cap is kept alone only until the session's next event pushes it out.
        if server.resumability && server.replayBufferBytes.bytes < 3 * tools.maxResultBytes.bytes {
            result.append("server.replay_buffer_bytes is less than three times tools.max_result_bytes: a large tool result can be dropped from the replay buffer by the session's next event before a client resumes to get it")
        }
        // An answer holds its body (text and structuredContent, escaped) until the kernel takes
        // it: one that passes the budget alone closes its own connection.
        if limits.maxUnsentBytes.bytes < 4 * tools.maxResultBytes.bytes {
            result.append("limits.max_unsent_bytes is less than four times tools.max_result_bytes: a client reading a large tool result slowly can be closed for it alone")
        }
        // A call's request is charged as parsed: a body of strings about its size, one of many
        // small values up to four and a half times it. One that does not fit runs only once
        // no call holds anything.
        if limits.maxInflightRequestBytes.bytes < 4 * server.maxBody.bytes {
            result.append("limits.max_inflight_request_bytes is less than four times server.max_body: a call with a large request may wait until no other call runs")
        }
        // A stream's queue counts too: a full one, and a resume's replay, queued whole.
        let streamQueue = limits.sseWriteBuffer.bytes + (server.resumability ? server.replayBufferBytes.bytes : 0)
        if limits.maxUnsentBytes.bytes < 4 * streamQueue {
            result.append("limits.max_unsent_bytes is less than four times limits.sse_write_buffer plus server.replay_buffer_bytes: an SSE stream's queue, or a resume's replay, can close its own connection")
        }
        if tls.skipVerify {
            result.append("tls.skip_verify is true: outbound backend certificates are not verified")
        }
        let rates: [(Double, String)] = [
            (limits.requestRate, "limits.request_rate"), (limits.connectionRatePerIp, "limits.connection_rate_per_ip"),
            (limits.connectionRateGlobal, "limits.connection_rate_global"),
        ]
        for (value, key) in rates where value == 0 {
            result.append("\(key) is 0: that rate limit is disabled")
        }
        // Behind a proxy the TLS client is the proxy: a binding would name its certificate
        // (every client behind it passes) or a client's (none ever does).
        if !limits.trustedProxies.isEmpty {
            for (index, token) in auth.tokens.enumerated() where !token.clientCertSha256.isEmpty {
                result.append("auth.tokens[\(index)] (\(token.name)) is bound to a client certificate while limits.trusted_proxies is set: behind a proxy the certificate checked is the proxy's connection's, not the client's")
            }
        }
        if let now {
            for (index, token) in auth.tokens.enumerated() {
                if let expiry = token.expiresAt, expiry <= now {
                    result.append("auth.tokens[\(index)] (\(token.name)) expired at \(token.expires): it is refused")
                }
            }
        }
        return result
    }
}
