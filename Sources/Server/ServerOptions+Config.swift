import Auth
import Config
import Foundation
import MCPCore
import RateLimit

extension ServerOptions {
    /// The HTTP layer's view of the configuration.
    public init(config: AppConfig) {
        self.init(identity: ServerIdentity(name: config.server.name, version: config.server.version))
        let server = config.server, limits = config.limits
        host = server.host
        port = server.port
        extraPorts = Array(Set([server.apiEnabled ? server.apiPort : 0, server.sseEnabled ? server.ssePort : 0].filter { $0 != 0 && $0 != server.port }))
            .sorted()
        opsEnabled = server.httpEnabled
        opsHost = server.httpHost
        opsPort = server.httpPort
        opsMaxConnections = server.httpMaxConnections
        opsAllowedHosts = server.httpAllowedHosts
        apiEnabled = server.apiEnabled
        goSSEEnabled = server.sseEnabled
        responseMode = server.responseMode == .sse ? .sse : .json
        getStreamEnabled = server.getStreamEnabled
        resumability = server.resumability
        replayBufferEvents = server.replayBufferEvents
        replayBufferBytes = Int(server.replayBufferBytes.bytes)
        replayMaxStreams = server.replayMaxStreams
        allowedOrigins = server.allowedOrigins
        ssePingInterval = server.ssePingInterval.duration
        sseWriteBuffer = Int(limits.sseWriteBuffer.bytes)
        sessionIdleTimeout = server.sessionIdleTimeout.duration
        maxSessions = limits.maxSessions
        maxSessionsPerToken = limits.maxSessionsPerToken
        maxSSEStreams = limits.maxSseStreams
        maxSSEStreamsPerToken = limits.maxSseStreamsPerToken
        maxInFlightPerSession = limits.maxInflightPerToken
        maxBody = Int(server.maxBody.bytes)
        maxHeaderBytes = Int(limits.maxHeaderBytes.bytes)
        maxHeaderCount = limits.maxHeaderCount
        idleTimeout = limits.idleTimeout.duration
        sendTimeout = limits.sendTimeout.milliseconds == 0 ? nil : limits.sendTimeout.duration
        listenBacklog = limits.listenBacklog
        maxUnsentBytes = Int(limits.maxUnsentBytes.bytes)
        maxBufferedBodyBytes = Int(limits.maxBufferedBodyBytes.bytes)
        headerTimeout = limits.headerTimeout.duration
        bodyTimeout = limits.bodyTimeout.duration
        lingerTimeout = limits.lingerTimeout.duration
        bodyMinRate = Int(limits.bodyMinRate.bytes)
        // The loader refuses what `parse` would (host bits, short mapped prefixes), so this
        // cannot fail for a loaded configuration; a hand-built one fails loudly here rather
        // than starting with no trusted proxy.
        let header = TrustedProxies.Header(rawValue: limits.forwardedHeader.rawValue) ?? .xForwardedFor
        switch TrustedProxies.parse(limits.trustedProxies, header: header) {
        case .success(let proxies): trustedProxies = proxies
        case .failure(let error): preconditionFailure("limits.trusted_proxies: \(error)")
        }
    }
}

/// Why the tokens of a configuration could not be loaded.
public struct TokenLoadError: Error, CustomStringConvertible {
    public let description: String
}

extension TokenStore {
    /// The configured tokens: `auth.tokens` (digest, env var or file) plus the Go
    /// server's `server.api_token`, named "api". Secrets are read here and never kept
    /// in the clear: only their digests are stored.
    public static func load(from config: AppConfig, environment: [String: String]) throws -> TokenStore {
        var tokens: [StoredToken] = []
        for entry in config.auth.tokens {
            let scopes = Set(entry.scopes.compactMap { Auth.TokenScope(rawValue: $0.rawValue) })
            let expires = entry.expiresAt.map { Date(timeIntervalSince1970: TimeInterval($0)) }
            var certificate: CertificateThumbprint?
            if !entry.clientCertSha256.isEmpty {
                guard let thumbprint = CertificateThumbprint(parsing: entry.clientCertSha256) else {
                    throw TokenLoadError(description: "auth.tokens \(entry.name): client_cert_sha256 is not a SHA-256 thumbprint")
                }
                certificate = thumbprint
            }
            if !entry.sha256.isEmpty {
                guard let digest = TokenDigest(parsing: entry.sha256) else {
                    throw TokenLoadError(description: "auth.tokens \(entry.name): sha256 is not a sha256:<64 hex> digest")
                }
                tokens.append(StoredToken(name: entry.name, digest: digest, scopes: scopes, expires: expires, clientCertificate: certificate))
            } else if !entry.env.isEmpty {
                guard let secret = environment[entry.env], !secret.isEmpty else {
                    // Named only when it looks like one (capitals, digits, `_`): a token pasted
                    // into `env` by mistake is not printed.
                    let shown = entry.env.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 } ? entry.env : "<redacted>"
                    throw TokenLoadError(description: "auth.tokens \(entry.name): environment variable \(shown) is not set")
                }
                tokens.append(StoredToken(name: entry.name, secret: secret, scopes: scopes, expires: expires, clientCertificate: certificate))
            } else if !entry.file.isEmpty {
                let text: String
                switch SecretFile.read(entry.file, maxBytes: 4096) {
                case .success(let read): text = read
                case .failure(let error):
                    throw TokenLoadError(description: "auth.tokens \(entry.name): cannot read a token from \(entry.file): \(error)")
                }
                tokens.append(StoredToken(name: entry.name, secret: text, scopes: scopes, expires: expires, clientCertificate: certificate))
            }
        }
        if !config.server.apiToken.isEmpty {
            tokens.append(.legacyAPIToken(secret: config.server.apiToken))
        }
        do {
            return try TokenStore(tokens)
        } catch {
            throw TokenLoadError(description: "auth.tokens: \(error)")
        }
    }
}

extension ConnectionGate.Configuration {
    public init(limits: LimitsConfig) {
        self.init(
            maxConnections: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerIp, maxHandshakes: limits.maxHandshakes,
            // Above the global cap the per-address one never binds (a config with
            // max_handshakes below the default 16 keeps loading).
            maxHandshakesPerAddress: min(limits.maxHandshakesPerIp, limits.maxHandshakes),
            perAddressRate: limits.connectionRatePerIp > 0 ? GCRA(ratePerSecond: limits.connectionRatePerIp, burst: max(1, limits.connectionBurstPerIp)) : nil,
            globalRate: limits.connectionRateGlobal > 0 ? GCRA(ratePerSecond: limits.connectionRateGlobal, burst: max(1, Int(limits.connectionRateGlobal))) : nil,
            rateTableCapacity: limits.keyTableCapacity)
    }
}

extension AuthFailureLimiter<ClientAddressKey>.Configuration {
    public init(auth: AuthConfig, capacity: Int) {
        self.init(maxFailures: max(1, auth.failureMax), window: UInt64(auth.failureWindow.milliseconds) * 1_000_000,
                  lockout: UInt64(auth.lockout.milliseconds) * 1_000_000, capacity: max(1, capacity))
    }
}
