import Foundation
import Auth
import Config
import MCPCore
import Testing
@testable import MCPServerKit

/// What a connection remembers (``ConnectionMemo``) never outlives a reload of the tokens nor
/// gets around the failure lockout.
@Suite struct TokenAuthenticatorTests {
    let secret = "ci-0123456789abcdef0123456789abcdef"
    let other = "other-0123456789abcdef0123456789abcdef"

    func authenticator(_ secrets: [String], maxFailures: Int = 100, capacity: Int = 16, metrics: ServerMetrics? = nil) throws -> TokenAuthenticator {
        let store = try TokenStore(secrets.enumerated().map { StoredToken(name: "t\($0.offset)", secret: $0.element) })
        return TokenAuthenticator(store: store, maxHeaderBytes: 4096,
                                  failureLimit: .init(maxFailures: maxFailures, window: 60_000_000_000, lockout: 60_000_000_000, capacity: capacity),
                                  metrics: metrics)
    }

    /// A token file is read as a config file is: a FIFO named there blocked the start (or a
    /// SIGHUP reload, which a graceful shutdown then waited for), `/dev/zero` filled memory.
    @Test("a token file must be a regular file within the cap; a FIFO or a device fails at once")
    func tokenFilesAreRegularAndCapped() throws {
        let dir = NSTemporaryDirectory() + "token-files-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        try String(repeating: "x", count: 5000).write(toFile: dir + "/big", atomically: false, encoding: .utf8)
        try "  \(secret)\n".write(toFile: dir + "/good", atomically: false, encoding: .utf8)
        func load(_ file: String) throws -> TokenStore {
            var config = AppConfig()
            config.auth.tokens = [.init(name: "a", file: file)]
            return try TokenStore.load(from: config, environment: [:])
        }
        for (file, reason) in [("/fifo", "a regular file"), ("/big", "at most 4096 bytes")] {
            #expect {
                try load(dir + file)
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
        #expect(throws: (any Error).self) { try load("/dev/zero") }
        #expect(try load(dir + "/good").count == 1)
        // Surrounding whitespace and an editor's byte order mark are no part of the secret.
        try "\u{FEFF}\(secret)\r\n".write(toFile: dir + "/bom", atomically: false, encoding: .utf8)
        let tokens = TokenAuthenticator(store: try load(dir + "/bom"), maxHeaderBytes: 4096,
                                        failureLimit: .init(maxFailures: 10, window: 60_000_000_000, lockout: 60_000_000_000, capacity: 16),
                                        metrics: nil)
        guard case .allowed = tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "192.0.2.1") else {
            Issue.record("the token from a file with a byte order mark was not accepted")
            return
        }
    }

    /// A token pasted into `env` by mistake passes validation when it looks like a variable
    /// name; the error for its missing variable must not print it.
    @Test("a missing environment variable is named only when its name looks like one")
    func missingVariableNamedOnlyWhenConventional() {
        func error(_ env: String) -> String {
            var config = AppConfig()
            config.auth.tokens = [.init(name: "a", env: env)]
            do {
                _ = try TokenStore.load(from: config, environment: [:])
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(error("MCP_TOKEN_A").contains("MCP_TOKEN_A is not set"))
        #expect(!error("hunter2hunter2").contains("hunter2"))
        #expect(error("hunter2hunter2").contains("<redacted> is not set"))
    }

    /// The failure table is bounded like every limiter's, and watched like them: its size and
    /// its evictions (addresses flushing lockouts out of it) are exported.
    @Test func theFailureTableIsExported() throws {
        let metrics = ServerMetrics()
        let tokens = try authenticator([secret], capacity: 2, metrics: metrics)
        for host in 1...5 { _ = tokens.authenticate(authorization: "Bearer wrong", clientAddress: "192.0.2.\(host)") }
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains(#"mcp_ratelimit_keys{limiter="auth_failures"} 2"#))
        #expect(text.contains(#"mcp_ratelimit_evictions_total{limiter="auth_failures"} 3"#))
    }

    /// Only the failure that starts a lockout is logged at `info` (RequestGate): the others,
    /// and the refusals while locked out, only at `debug`.
    @Test("the failure that locks an address out says so, once; the failures before it and the refusals after it do not")
    func lockoutStartIsMarkedOnce() throws {
        let tokens = try authenticator([secret], maxFailures: 3)
        func started(_ outcome: AuthOutcome) -> Bool {
            if case .denied(_, _, _, _, let started) = outcome { started } else { false }
        }
        let outcomes = (0..<6).map { _ in tokens.authenticate(authorization: "Bearer wrong-0123456789abcdef", clientAddress: "192.0.2.7") }
        #expect(outcomes.map(started) == [false, false, true, false, false, false])
        #expect(outcomes.map(reason) == ["invalid", "invalid", "invalid", "locked_out", "locked_out", "locked_out"])
    }

    func name(_ outcome: AuthOutcome) -> String? {
        if case .allowed(let principal) = outcome { principal.name } else { nil }
    }

    func reason(_ outcome: AuthOutcome) -> String? {
        if case .denied(let reason, _, _, _, _) = outcome { reason } else { nil }
    }

    /// What the session sweep asks: a token that was removed, whose expiry passed, or that
    /// lost its write scope is no longer current for a session made with it.
    @Test func currentTokens() throws {
        let past = Date(timeIntervalSinceNow: -1)
        let store = try TokenStore([StoredToken(name: "live", secret: secret), StoredToken(name: "old", secret: other, expires: past)])
        let tokens = TokenAuthenticator(store: store, maxHeaderBytes: 4096,
                                        failureLimit: .init(maxFailures: 10, window: 1, lockout: 1, capacity: 4), metrics: nil)
        let credential = TokenAuthenticator.credential(of: store.tokens[0])
        let live = MCPSession.Principal(name: "live", allowsWrites: true, credential: credential)
        var reading = live
        reading.allowsWrites = false
        #expect(tokens.isCurrent(principal: live))
        #expect(!tokens.isCurrent(principal: .init(name: "old", allowsWrites: true, credential: TokenAuthenticator.credential(of: store.tokens[1]))))
        // Narrowed to read: a session made with writes is no longer current; one without is.
        tokens.replace(store: try TokenStore([StoredToken(name: "live", secret: secret, scopes: [.read])]))
        #expect(!tokens.isCurrent(principal: live))
        #expect(tokens.isCurrent(principal: reading))
        // Widened back to write: the read-only session stays (it asks for nothing more).
        tokens.replace(store: try TokenStore([StoredToken(name: "live", secret: secret)]))
        #expect(tokens.isCurrent(principal: reading))
        tokens.replace(store: try TokenStore([StoredToken(name: "other", secret: other)]))
        #expect(!tokens.isCurrent(principal: reading))
    }

    func principal(_ outcome: AuthOutcome) -> MCPSession.Principal? {
        if case .allowed(let principal) = outcome { principal } else { nil }
    }

    /// Rotating a leaked secret keeps the token's name: the sessions the old secret made must
    /// not be current any more (they end on the reload), while a reload that keeps the
    /// secret, even written as its `sha256:` digest, keeps them.
    @Test func aRotatedSecretIsNotCurrentForTheOldSecretsSessions() throws {
        let tokens = TokenAuthenticator(store: try TokenStore([StoredToken(name: "ci", secret: secret)]), maxHeaderBytes: 4096,
                                        failureLimit: .init(maxFailures: 10, window: 1, lockout: 1, capacity: 4), metrics: nil)
        let made = try #require(principal(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.1")))
        #expect(made.credential != nil)
        #expect(tokens.isCurrent(principal: made))
        tokens.replace(store: try TokenStore([StoredToken(name: "ci", digest: TokenDigest.of(token: secret))]))
        #expect(tokens.isCurrent(principal: made))
        tokens.replace(store: try TokenStore([StoredToken(name: "ci", secret: other)]))
        #expect(!tokens.isCurrent(principal: made))
        let rotated = try #require(principal(tokens.authenticate(authorization: "Bearer \(other)", clientAddress: "127.0.0.1")))
        #expect(rotated.name == made.name && rotated.credential != made.credential)
        #expect(tokens.isCurrent(principal: rotated))
        // The description of a credential never shows the digest.
        #expect("\(rotated)".contains("<credential>") && !"\(rotated)".contains(TokenDigest.of(token: other).configurationText.dropFirst(7)))
    }

    /// RFC 8705 §3: a certificate-bound token passes only on a connection whose TLS client
    /// certificate it names, every request (the remembered credential too); a refusal counts
    /// toward the lockout like any wrong token.
    @Test func aCertificateBoundTokenNeedsItsConnectionsCertificate() throws {
        let mine = try #require(CertificateThumbprint(bytes: [UInt8](repeating: 1, count: 32)))
        let theirs = try #require(CertificateThumbprint(bytes: [UInt8](repeating: 2, count: 32)))
        let tokens = TokenAuthenticator(store: try TokenStore([StoredToken(name: "bound", secret: secret, clientCertificate: mine)]),
                                        maxHeaderBytes: 4096,
                                        failureLimit: .init(maxFailures: 3, window: 60_000_000_000, lockout: 60_000_000_000, capacity: 4),
                                        metrics: nil)
        let header = "Bearer \(secret)"
        let holder = ConnectionMemo(peerAddress: "127.0.0.1", clientCertificate: mine)
        for _ in 0..<2 { #expect(name(tokens.authenticate(authorization: header, clientAddress: "127.0.0.1", connection: holder)) == "bound") }
        for thief in [ConnectionMemo(peerAddress: "127.0.0.2", clientCertificate: theirs), ConnectionMemo(peerAddress: "127.0.0.2"), nil] {
            #expect(reason(tokens.authenticate(authorization: header, clientAddress: "127.0.0.2", connection: thief)) == "cert_mismatch")
        }
        #expect(reason(tokens.authenticate(authorization: header, clientAddress: "127.0.0.2", connection: nil)) == "locked_out")
        #expect(name(tokens.authenticate(authorization: header, clientAddress: "127.0.0.1", connection: holder)) == "bound")
    }

    /// Binding a token by a reload (the answer to a leak) ends the sessions it made before,
    /// from any connection: they were not made with the certificate. A reload that keeps the
    /// binding keeps the sessions.
    @Test func bindingATokenByAReloadEndsItsSessions() throws {
        let certificate = try #require(CertificateThumbprint(bytes: [UInt8](repeating: 7, count: 32)))
        let tokens = TokenAuthenticator(store: try TokenStore([StoredToken(name: "ci", secret: secret)]), maxHeaderBytes: 4096,
                                        failureLimit: .init(maxFailures: 10, window: 1, lockout: 1, capacity: 4), metrics: nil)
        let unbound = try #require(principal(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.1")))
        tokens.replace(store: try TokenStore([StoredToken(name: "ci", secret: secret, clientCertificate: certificate)]))
        #expect(!tokens.isCurrent(principal: unbound))
        let bound = try #require(principal(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.1",
                                                                 connection: ConnectionMemo(peerAddress: "127.0.0.1", clientCertificate: certificate))))
        tokens.replace(store: try TokenStore([StoredToken(name: "ci", secret: secret, clientCertificate: certificate)]))
        #expect(tokens.isCurrent(principal: bound))
    }

    @Test func aReloadEndsWhatTheConnectionRemembered() throws {
        let tokens = try authenticator([secret, other])
        let connection = ConnectionMemo(peerAddress: "127.0.0.1")
        #expect(name(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.1", connection: connection)) == "t0")
        #expect(name(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.1", connection: connection)) == "t0")
        // The token is gone after the reload; the other one now has its index.
        tokens.replace(store: try TokenStore([StoredToken(name: "t1", secret: other)]))
        #expect(reason(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.1", connection: connection)) == "invalid")
        #expect(name(tokens.authenticate(authorization: "Bearer \(other)", clientAddress: "127.0.0.1", connection: connection)) == "t1")
    }

    /// A lockout refuses valid tokens too (a locked-out guesser must not learn which guess
    /// was right), except on a connection that presents again the value it was accepted
    /// with: that client is not guessing, and the failures may be a neighbour's.
    @Test func aLockedOutAddressIsRefusedButAWorkingConnectionGoesOn() throws {
        let tokens = try authenticator([secret, other], maxFailures: 2)
        let working = ConnectionMemo(peerAddress: "127.0.0.9")
        #expect(name(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.9", connection: working)) == "t0")
        let neighbour = ConnectionMemo(peerAddress: "127.0.0.9")
        for _ in 0..<2 {
            #expect(reason(tokens.authenticate(authorization: "Bearer wrong", clientAddress: "127.0.0.9", connection: neighbour)) == "invalid")
        }
        #expect(name(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.9", connection: working)) == "t0")
        // Any other value on that connection, even a valid token, meets the lockout.
        #expect(reason(tokens.authenticate(authorization: "Bearer \(other)", clientAddress: "127.0.0.9", connection: working)) == "locked_out")
        #expect(reason(tokens.authenticate(authorization: "Bearer wrong", clientAddress: "127.0.0.9", connection: working)) == "locked_out")
        // A new connection with the good token is locked out; so is a request with no connection.
        #expect(reason(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.9", connection: ConnectionMemo(peerAddress: "127.0.0.9"))) == "locked_out")
        #expect(reason(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.9")) == "locked_out")
        // The guessing connection gets nothing from the lockout either.
        #expect(reason(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.9", connection: neighbour)) == "locked_out")
        // Another address, behind a trusted proxy on the same connection, is not locked out.
        #expect(name(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.10", connection: neighbour)) == "t0")
    }

    /// Behind a trusted proxy one pooled connection carries many clients: the exemption holds
    /// only for the address the value was accepted from, or a locked-out client on the same
    /// connection could test its guesses against the remembered value.
    @Test func theExemptionIsForTheAddressThatWasAccepted() throws {
        let tokens = try authenticator([secret], maxFailures: 2)
        let pooled = ConnectionMemo(peerAddress: "10.0.0.1")
        #expect(name(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "192.0.2.1", connection: pooled)) == "t0")
        for _ in 0..<2 {
            #expect(reason(tokens.authenticate(authorization: "Bearer wrong", clientAddress: "192.0.2.2", connection: pooled)) == "invalid")
        }
        #expect(reason(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "192.0.2.2", connection: pooled)) == "locked_out")
        #expect(name(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "192.0.2.1", connection: pooled)) == "t0")
    }
}
