import COpenSSL
import Foundation

/// Checks a request's `Authorization` header against the token store in constant time.
///
/// The presented token is hashed once (SHA-256), then compared with **every** stored digest
/// using `CRYPTO_memcmp`, and the match is selected with arithmetic rather than a branch or an
/// early exit. So the time depends neither on which byte differs, nor on which token (if any)
/// matches, nor on the stored tokens' lengths (only digests are compared). It does depend on
/// the presented token's own length (hashing), which the client already knows.
///
/// Immutable: a reload builds a new verifier from a new store.
public struct TokenVerifier: Sendable {
    public let store: TokenStore
    public let maxHeaderLength: Int
    /// All digests back to back, so the comparison loop touches one contiguous buffer.
    private let digests: [UInt8]
    /// Tells this verifier from the one a reload replaces it with, so an
    /// ``AcceptedCredential`` is honoured only by the verifier that accepted it.
    private let generation = Generation()

    public init(store: TokenStore, maxHeaderLength: Int = BearerCredentialParser.defaultMaxLength) {
        self.store = store
        self.maxHeaderLength = maxHeaderLength
        self.digests = store.tokens.flatMap(\.digest.bytes)
    }

    /// - Parameters:
    ///   - authorization: the `Authorization` field value, nil when absent.
    ///   - now: wall-clock time for token expiry, read only for a token that expires: most
    ///     never do, and reading the clock was a sixth of a request's authentication.
    ///   - clientCertificate: the thumbprint of the connection's verified TLS client
    ///     certificate, if it presented one; a certificate-bound token needs its own.
    public func verify(authorization: String?, now: @autoclosure () -> Date, clientCertificate: CertificateThumbprint? = nil) -> AuthDecision {
        switch BearerCredentialParser.parse(headerValue: authorization, maxLength: maxHeaderLength) {
        case .failure(let failure):
            return .rejected(failure)
        case .success(let token):
            return verify(token: token, now: now(), clientCertificate: clientCertificate)
        }
    }

    /// Verifies an already extracted token.
    public func verify(token: [UInt8], now: @autoclosure () -> Date, clientCertificate: CertificateThumbprint? = nil) -> AuthDecision {
        guard let index = index(of: token) else { return .rejected(.invalid) }
        return decision(for: index, now: now, clientCertificate: clientCertificate)
    }

    /// As ``verify(authorization:now:)``, for one connection's requests: when `last` holds the
    /// `Authorization` value this verifier accepted before on the connection, and this request
    /// presents the same value, the token is known without hashing it again. Keep-alive
    /// clients send the same header every time, and the SHA-256 was more than half of
    /// authentication's CPU (`perf`: 1.4 % of a `tools/call`). The value is compared in
    /// constant time for its length; expiry is checked every time; a verifier built by a
    /// reload never honours what an earlier one accepted. An accepted value is remembered
    /// in `last`; a rejection leaves it as it was.
    public func verify(authorization: String?, now: @autoclosure () -> Date, clientCertificate: CertificateThumbprint? = nil,
                       remembering last: inout AcceptedCredential?) -> AuthDecision {
        if let remembered = last, recognises(authorization, remembered: remembered) {
            return decision(for: remembered.index, now: now, clientCertificate: clientCertificate)
        }
        switch BearerCredentialParser.parse(headerValue: authorization, maxLength: maxHeaderLength) {
        case .failure(let failure):
            return .rejected(failure)
        case .success(let token):
            guard let index = index(of: token) else { return .rejected(.invalid) }
            let decision = decision(for: index, now: now, clientCertificate: clientCertificate)
            if case .accepted = decision, let authorization {
                last = AcceptedCredential(header: Array(authorization.utf8), index: index, generation: generation)
            }
            return decision
        }
    }

    /// Whether `authorization` is the value this verifier accepted before as `last` (the
    /// connection's remembered credential); expiry is not checked here.
    public func recognises(_ authorization: String?, remembered last: AcceptedCredential?) -> Bool {
        guard let last, last.generation === generation, let authorization else { return false }
        return last.matches(authorization)
    }

    /// The index of the stored token whose digest is the presented token's.
    private func index(of token: [UInt8]) -> Int? {
        Self.constantTimeIndex(of: TokenDigest.of(token: token).bytes, in: digests)
    }

    /// The binding is checked once the secret matched (like the expiry): a thumbprint is
    /// public, so comparing it need not be constant time. The refusal tells whoever holds the
    /// secret that it is bound, which its holder needs to know and a thief cannot use.
    private func decision(for index: Int, now: () -> Date, clientCertificate: CertificateThumbprint?) -> AuthDecision {
        let stored = store.tokens[index]
        if stored.expires != nil, stored.isExpired(at: now()) { return .rejected(.expired) }
        if let bound = stored.clientCertificate, bound != clientCertificate { return .rejected(.certificateMismatch) }
        return .accepted(stored)
    }

    /// The index of the 32-byte `needle` among the back-to-back digests in `haystack`, scanning
    /// all of them every time.
    static func constantTimeIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        let width = TokenDigest.byteCount
        precondition(needle.count == width && haystack.count % width == 0)
        var found = -1
        needle.withUnsafeBytes { needleBytes in
            haystack.withUnsafeBytes { allBytes in
                var offset = 0
                var index = 0
                while offset < allBytes.count {
                    let difference = Int(CRYPTO_memcmp(allBytes.baseAddress! + offset, needleBytes.baseAddress!, width))
                    // all ones when difference == 0, else zero, without a branch
                    let mask = ((difference | -difference) >> (Int.bitWidth - 1)) ^ -1
                    found = (index & mask) | (found & ~mask)
                    offset += width
                    index += 1
                }
            }
        }
        return found >= 0 ? found : nil
    }
}

/// Identity only: one per ``TokenVerifier``.
final class Generation: Sendable {}

/// An `Authorization` value a ``TokenVerifier`` accepted, and which stored token it named:
/// what one connection remembers between its requests. It holds the secret as the request
/// did, and lives as long as the connection.
public struct AcceptedCredential: Sendable {
    let header: [UInt8]
    let index: Int
    let generation: Generation

    /// Whether `authorization` is the same value: lengths first (a client knows its own
    /// header's length), then every byte with `CRYPTO_memcmp`, so the time does not tell
    /// where two values of the same length differ.
    func matches(_ authorization: String) -> Bool {
        var authorization = authorization
        return authorization.withUTF8 { presented in
            presented.count == header.count && header.withUnsafeBytes { remembered in
                CRYPTO_memcmp(remembered.baseAddress, presented.baseAddress, presented.count) == 0
            }
        }
    }
}
