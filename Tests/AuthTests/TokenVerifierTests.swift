import Foundation
import Testing
@testable import Auth

@Suite struct TokenVerifierTests {
    let now = Date(timeIntervalSince1970: 2_000_000_000)
    let ciSecret = "ci-0123456789abcdef0123456789abcdef"
    let readerSecret = "reader-0123456789abcdef0123456789abcdef"
    let oldSecret = "old-0123456789abcdef0123456789abcdef"

    func verifier() throws -> TokenVerifier {
        let store = try TokenStore([
            StoredToken(name: "ci", secret: ciSecret),
            StoredToken(name: "reader", digest: TokenDigest.of(token: readerSecret), scopes: [.read]),
            StoredToken(name: "old", secret: oldSecret, expires: now),
        ])
        return TokenVerifier(store: store)
    }

    @Test func acceptsEachStoredToken() throws {
        let verifier = try verifier()
        guard case .accepted(let ci) = verifier.verify(authorization: "Bearer \(ciSecret)", now: now) else {
            Issue.record("ci token rejected")
            return
        }
        #expect(ci.name == "ci")
        guard case .accepted(let reader) = verifier.verify(authorization: "bearer \(readerSecret)", now: now) else {
            Issue.record("reader token rejected")
            return
        }
        #expect(reader.name == "reader")
    }

    @Test func rejectsWrongTokensByReason() throws {
        let verifier = try verifier()
        #expect(verifier.verify(authorization: nil, now: now) == .rejected(.missing))
        #expect(verifier.verify(authorization: "Basic abc", now: now) == .rejected(.malformed))
        #expect(verifier.verify(authorization: "Bearer x" + ciSecret, now: now) == .rejected(.invalid))
        #expect(verifier.verify(authorization: "Bearer \(ciSecret.dropLast())", now: now) == .rejected(.invalid))
        #expect(verifier.verify(authorization: "Bearer " + String(repeating: "a", count: 5_000), now: now) == .rejected(.tooLong))
    }

    @Test func expiryIsInclusiveOfTheInstant() throws {
        let verifier = try verifier()
        let before = now.addingTimeInterval(-0.001)
        guard case .accepted = verifier.verify(authorization: "Bearer \(oldSecret)", now: before) else {
            Issue.record("token rejected before its expiry")
            return
        }
        #expect(verifier.verify(authorization: "Bearer \(oldSecret)", now: now) == .rejected(.expired))
    }

    @Test func rememberedCredentialSkipsTheHashOnlyForTheSameValue() throws {
        let verifier = try verifier()
        var last: AcceptedCredential?
        guard case .accepted(let ci) = verifier.verify(authorization: "Bearer \(ciSecret)", now: now, remembering: &last),
              let remembered = last else {
            Issue.record("ci token rejected or not remembered")
            return
        }
        #expect(ci.name == "ci")
        // A value that is not a stored token, remembered as if this verifier had accepted it,
        // is accepted: the remembered value is used, not hashed again.
        var forged: AcceptedCredential? = AcceptedCredential(header: Array("Bearer forged".utf8), index: remembered.index, generation: remembered.generation)
        #expect(verifier.verify(authorization: "Bearer forged", now: now, remembering: &forged).acceptedName == "ci")
        // Any other value, of the same length or not, goes through the store.
        let sameLength = "Bearer " + String(repeating: "x", count: ciSecret.count)
        #expect(verifier.verify(authorization: sameLength, now: now, remembering: &last) == .rejected(.invalid))
        #expect(verifier.verify(authorization: "Bearer \(ciSecret)x", now: now, remembering: &last) == .rejected(.invalid))
        #expect(verifier.verify(authorization: nil, now: now, remembering: &last) == .rejected(.missing))
        // A rejection leaves the remembered value; another accepted token replaces it.
        #expect(last?.header == remembered.header)
        #expect(verifier.verify(authorization: "Bearer \(readerSecret)", now: now, remembering: &last).acceptedName == "reader")
        #expect(last?.header == Array("Bearer \(readerSecret)".utf8))
    }

    @Test func rememberedCredentialStillExpires() throws {
        let verifier = try verifier()
        var last: AcceptedCredential?
        #expect(verifier.verify(authorization: "Bearer \(oldSecret)", now: now.addingTimeInterval(-1), remembering: &last).acceptedName == "old")
        #expect(last != nil)
        #expect(verifier.verify(authorization: "Bearer \(oldSecret)", now: now, remembering: &last) == .rejected(.expired))
    }

    /// A reload builds a new verifier, whose store may hold other tokens at the same index:
    /// what the old one remembered must not name any of them.
    @Test func anotherVerifierIgnoresWhatOneRemembered() throws {
        let verifier = try verifier()
        var last: AcceptedCredential?
        #expect(verifier.verify(authorization: "Bearer \(ciSecret)", now: now, remembering: &last).acceptedName == "ci")
        let reloaded = TokenVerifier(store: try TokenStore([StoredToken(name: "reader", digest: TokenDigest.of(token: readerSecret), scopes: [.read])]))
        #expect(reloaded.verify(authorization: "Bearer \(ciSecret)", now: now, remembering: &last) == .rejected(.invalid))
        let same = TokenVerifier(store: verifier.store)
        #expect(same.verify(authorization: "Bearer \(ciSecret)", now: now, remembering: &last).acceptedName == "ci")
    }

    @Test func emptyStoreRejectsEverything() {
        let verifier = TokenVerifier(store: try! TokenStore([]))
        #expect(verifier.verify(authorization: "Bearer anything", now: now) == .rejected(.invalid))
    }

    @Test func constantTimeIndexFindsAMatchAnywhere() {
        let digests = (0..<5).map { TokenDigest.of(token: "t\($0)").bytes }
        let haystack = digests.flatMap { $0 }
        for (index, digest) in digests.enumerated() {
            #expect(TokenVerifier.constantTimeIndex(of: digest, in: haystack) == index)
        }
        #expect(TokenVerifier.constantTimeIndex(of: TokenDigest.of(token: "nope").bytes, in: haystack) == nil)
        #expect(TokenVerifier.constantTimeIndex(of: digests[0], in: []) == nil)
    }

    @Test func scopes() throws {
        let verifier = try verifier()
        guard case .accepted(let reader) = verifier.verify(authorization: "Bearer \(readerSecret)", now: now),
              case .accepted(let ci) = verifier.verify(authorization: "Bearer \(ciSecret)", now: now)
        else {
            Issue.record("tokens rejected")
            return
        }
        #expect(reader.allows(writes: false) && !reader.allows(writes: true))
        #expect(ci.allows(writes: false) && ci.allows(writes: true))
    }

    /// RFC 6750 §3 and §3.1.
    @Test func wwwAuthenticateValues() {
        #expect(AuthFailure.missing.wwwAuthenticate() == "Bearer realm=\"mcp\"")
        #expect(AuthFailure.invalid.wwwAuthenticate() == "Bearer realm=\"mcp\", error=\"invalid_token\"")
        #expect(AuthFailure.expired.wwwAuthenticate() == "Bearer realm=\"mcp\", error=\"invalid_token\"")
        // RFC 8705 §3: a certificate-bound token without its certificate is an invalid token.
        #expect(AuthFailure.certificateMismatch.wwwAuthenticate() == "Bearer realm=\"mcp\", error=\"invalid_token\"")
        #expect(AuthFailure.malformed.wwwAuthenticate() == "Bearer realm=\"mcp\", error=\"invalid_request\"")
        #expect(AuthFailure.insufficientScope(.write)
            == "Bearer realm=\"mcp\", error=\"insufficient_scope\", scope=\"write\"")
        #expect(AuthFailure.missing.wwwAuthenticate(realm: "a\"b\r\n") == "Bearer realm=\"a\\\"b\"")
        #expect(Set(AuthFailure.allCases.map(\.reason)) == ["missing", "malformed", "too_long", "invalid", "expired", "cert_mismatch"])
    }

    /// RFC 8705 §3: a certificate-bound token is accepted only with the client certificate
    /// it names; an unbound token with any certificate or none. The remembered-credential
    /// path checks the binding too.
    @Test func certificateBoundTokenNeedsItsCertificate() throws {
        let mine = try #require(CertificateThumbprint(bytes: [UInt8](repeating: 0xAB, count: 32)))
        let other = try #require(CertificateThumbprint(bytes: [UInt8](repeating: 0xCD, count: 32)))
        let verifier = TokenVerifier(store: try TokenStore([
            StoredToken(name: "bound", secret: ciSecret, clientCertificate: mine),
            StoredToken(name: "free", secret: readerSecret),
        ]))
        let bound = "Bearer \(ciSecret)"
        #expect(verifier.verify(authorization: bound, now: now, clientCertificate: mine).acceptedName == "bound")
        #expect(verifier.verify(authorization: bound, now: now, clientCertificate: other) == .rejected(.certificateMismatch))
        #expect(verifier.verify(authorization: bound, now: now) == .rejected(.certificateMismatch))
        #expect(verifier.verify(authorization: "Bearer \(readerSecret)", now: now, clientCertificate: other).acceptedName == "free")
        #expect(verifier.verify(authorization: "Bearer \(readerSecret)", now: now).acceptedName == "free")
        var remembered: AcceptedCredential?
        #expect(verifier.verify(authorization: bound, now: now, clientCertificate: mine, remembering: &remembered).acceptedName == "bound")
        #expect(remembered != nil)
        #expect(verifier.verify(authorization: bound, now: now, clientCertificate: nil, remembering: &remembered) == .rejected(.certificateMismatch))
    }

    /// The forms configuration takes: `sha256:` and 64 hex digits, or openssl's colon pairs.
    @Test func certificateThumbprintForms() throws {
        let hex = String(repeating: "aB", count: 32)
        let expected = [UInt8](repeating: 0xAB, count: 32)
        #expect(CertificateThumbprint(parsing: "sha256:" + hex)?.bytes == expected)
        #expect(CertificateThumbprint(parsing: hex)?.bytes == expected)
        let colons = Array(repeating: "AB", count: 32).joined(separator: ":")
        #expect(CertificateThumbprint(parsing: colons)?.bytes == expected)
        #expect(CertificateThumbprint(parsing: "sha256:" + colons)?.bytes == expected)
        #expect(CertificateThumbprint(parsing: "sha256:" + hex)?.description == "sha256:" + String(repeating: "ab", count: 32))
        for bad in ["", "sha256:", "sha1:" + hex, "sha256:" + hex.dropLast(), "sha256:" + hex + "00", "sha256:" + hex.dropLast() + "g",
                    colons.replacingOccurrences(of: ":", with: "-"), ":" + colons.dropLast(), " " + hex] {
            #expect(CertificateThumbprint(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func legacyAPITokenIsNamedApiWithAllScopes() throws {
        let token = StoredToken.legacyAPIToken(secret: "short")
        #expect(token.name == "api" && token.scopes == [.read, .write])
        #expect(token.isShort)
        #expect(!StoredToken(name: "x", secret: String(repeating: "k", count: 32)).isShort)
        let verifier = TokenVerifier(store: try TokenStore([token]))
        guard case .accepted(let accepted) = verifier.verify(authorization: "Bearer short", now: now) else {
            Issue.record("legacy token rejected")
            return
        }
        #expect(accepted.name == "api")
    }
}

@Suite struct TokenStoreTests {
    @Test func rejectsDuplicatesAndEmptyValues() {
        let a = StoredToken(name: "a", secret: "one")
        #expect(throws: TokenStore.Invalid.duplicateName("a")) { try TokenStore([a, StoredToken(name: "a", secret: "two")]) }
        #expect(throws: TokenStore.Invalid.duplicateDigest(first: "a", second: "b")) {
            try TokenStore([a, StoredToken(name: "b", secret: "one")])
        }
        #expect(throws: TokenStore.Invalid.emptyName) { try TokenStore([StoredToken(name: "", secret: "x")]) }
        #expect(throws: TokenStore.Invalid.noReadScope("n")) { try TokenStore([StoredToken(name: "n", secret: "x", scopes: [])]) }
        #expect(throws: TokenStore.Invalid.noReadScope("w")) { try TokenStore([StoredToken(name: "w", secret: "x", scopes: [.write])]) }
    }
}

extension AuthDecision {
    /// The accepted token's name, nil for a rejection.
    var acceptedName: String? {
        if case .accepted(let token) = self { token.name } else { nil }
    }
}
