/// `auth`: bearer tokens and the auth-failure limiter.
public struct AuthConfig: Codable, Sendable, Equatable {
    public var tokens: [TokenConfig] = []
    public var maxHeaderBytes = ByteSize(bytes: 4096)
    /// Failed authentications per client IP within `failure_window` before a lockout.
    public var failureMax = 10
    public var failureWindow = ConfigDuration.minutes(1)
    public var lockout = ConfigDuration.minutes(5)

    public init() {}
}

/// One bearer token. Its value comes from exactly one of `sha256` (the digest form
/// printed by `hash-token`), `env` (an environment variable's name) or `file` (a path).
public struct TokenConfig: Codable, Sendable, Equatable {
    /// Required; used in logs and metric labels (never the token itself).
    public var name: String
    /// `sha256:<64 hex digits>`.
    public var sha256 = ""
    public var env = ""
    public var file = ""
    public var scopes: [TokenScope] = [.read, .write]
    /// RFC 3339 expiry; empty = never.
    public var expires = ""
    /// The SHA-256 thumbprint of the one TLS client certificate this token may be presented
    /// with (RFC 8705 certificate-bound token); empty = any connection. Needs `tls.client_auth`.
    public var clientCertSha256 = ""

    public init(name: String, sha256: String = "", env: String = "", file: String = "", scopes: [TokenScope] = [.read, .write], expires: String = "",
                clientCertSha256: String = "") {
        self.name = name
        self.sha256 = sha256
        self.env = env
        self.file = file
        self.scopes = scopes
        self.expires = expires
        self.clientCertSha256 = clientCertSha256
    }

    enum CodingKeys: String, CodingKey {
        case name, sha256, env, file, scopes, expires, clientCertSha256
    }

    /// List items get no defaults from the embedded layer, so they are filled here.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // A key given as null is refused, as everywhere else: `decodeIfPresent` takes it for
        // an absent key, so `scopes:` left empty granted read and write, and `expires:` never.
        func given<T: Decodable>(_ key: CodingKeys) throws -> T? {
            container.contains(key) ? try container.decode(T.self, forKey: key) : nil
        }
        name = try container.decode(String.self, forKey: .name)
        sha256 = try given(.sha256) ?? ""
        env = try given(.env) ?? ""
        file = try given(.file) ?? ""
        scopes = try given(.scopes) ?? [.read, .write]
        expires = try given(.expires) ?? ""
        clientCertSha256 = try given(.clientCertSha256) ?? ""
    }

    /// Seconds since 1970 of `expires`, nil when it is empty (validation guarantees the
    /// format otherwise).
    public var expiresAt: Int64? { RFC3339.parse(expires) }
}

public enum TokenScope: String, ConfigEnum {
    case read, write
}
