import Foundation

/// One configured token: a name (safe to log and to use as a metrics label), the digest of its
/// secret (never the secret), its scopes, an optional expiry, and optionally the one client
/// certificate it may be presented with (a certificate-bound token, RFC 8705 §3).
public struct StoredToken: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public let digest: TokenDigest
    public let scopes: Set<TokenScope>
    public let expires: Date?
    /// When set, the token is accepted only on a connection whose TLS client certificate has
    /// this thumbprint: a leaked token is of no use without the certificate's private key.
    public let clientCertificate: CertificateThumbprint?

    /// Secrets shorter than this are accepted but `isShort` flags them for `check-config`.
    public static let recommendedMinimumSecretLength = 32

    /// Whether the secret was shorter than `recommendedMinimumSecretLength` bytes; only known
    /// when built from a secret (a digest hides the length).
    public let isShort: Bool

    public init(name: String, digest: TokenDigest, scopes: Set<TokenScope> = [.read, .write], expires: Date? = nil,
                clientCertificate: CertificateThumbprint? = nil) {
        self.name = name
        self.digest = digest
        self.scopes = scopes
        self.expires = expires
        self.clientCertificate = clientCertificate
        self.isShort = false
    }

    /// From a raw secret the lead read from an env var or a file; it is hashed at once and not kept.
    public init(name: String, secret: some StringProtocol, scopes: Set<TokenScope> = [.read, .write], expires: Date? = nil,
                clientCertificate: CertificateThumbprint? = nil) {
        self.name = name
        self.digest = TokenDigest.of(token: Array(secret.utf8))
        self.scopes = scopes
        self.expires = expires
        self.clientCertificate = clientCertificate
        self.isShort = secret.utf8.count < Self.recommendedMinimumSecretLength
    }

    /// The Go server's single `server.api_token`: a token named `api` with every scope.
    public static func legacyAPIToken(secret: some StringProtocol) -> StoredToken {
        StoredToken(name: "api", secret: secret)
    }

    /// Whether this token may call a tool that reads only (`writes == false`) or one that writes.
    public func allows(writes: Bool) -> Bool {
        scopes.contains(writes ? .write : .read)
    }

    public func isExpired(at now: Date) -> Bool {
        guard let expires else { return false }
        return now >= expires
    }

    public var description: String { "token \"\(name)\"" }
}
