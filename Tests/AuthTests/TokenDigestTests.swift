import Testing
import Auth

@Suite struct TokenDigestTests {
    /// FIPS 180-2 Appendix B.1: SHA-256("abc").
    static let abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

    @Test func sha256KnownAnswer() {
        #expect(TokenDigest.of(token: "abc").configurationText == Self.abc)
        #expect(TokenDigest.of(token: "").configurationText
            == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func parsesItsOwnTextAndUppercaseHex() {
        #expect(TokenDigest(parsing: Self.abc) == TokenDigest.of(token: "abc"))
        #expect(TokenDigest(parsing: "sha256:" + Self.abc.dropFirst(7).uppercased()) == TokenDigest.of(token: "abc"))
    }

    @Test(arguments: [
        "", "sha256:", "SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015add",
        "sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        " sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    ])
    func rejectsMalformedDigests(_ text: String) {
        #expect(TokenDigest(parsing: text) == nil)
    }

    @Test func descriptionIsRedacted() {
        #expect(!"\(TokenDigest.of(token: "abc"))".contains("ba7816"))
        #expect(!"\(StoredToken(name: "ci", secret: "abc"))".contains("ba7816"))
    }
}
