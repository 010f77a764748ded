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

    public init(store: TokenStore, maxHeaderLength: Int = BearerCredentialParser.defaultMaxLength) {
        self.store = store
        self.maxHeaderLength = maxHeaderLength
        self.digests = store.tokens.flatMap(\.digest.bytes)
    }

    /// - Parameters:
    ///   - authorization: the `Authorization` field value, nil when absent.
    ///   - now: wall-clock time for token expiry.
    public func verify(authorization: String?, now: Date) -> AuthDecision {
        switch BearerCredentialParser.parse(headerValue: authorization, maxLength: maxHeaderLength) {
        case .failure(let failure):
            return .rejected(failure)
        case .success(let token):
            return verify(token: token, now: now)
        }
    }

    /// Verifies an already extracted token.
    public func verify(token: [UInt8], now: Date) -> AuthDecision {
        let presented = TokenDigest.of(token: token)
        guard let index = Self.constantTimeIndex(of: presented.bytes, in: digests) else {
            return .rejected(.invalid)
        }
        let stored = store.tokens[index]
        if stored.isExpired(at: now) { return .rejected(.expired) }
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
