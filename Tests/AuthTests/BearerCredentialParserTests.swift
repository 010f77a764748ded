import Testing
import Auth

/// RFC 6750 §2.1: `credentials = "Bearer" 1*SP b64token`.
@Suite struct BearerCredentialParserTests {
    func parse(_ value: String?, max: Int = 4096) -> Result<String, AuthFailure> {
        BearerCredentialParser.parse(headerValue: value, maxLength: max).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func acceptsTheGrammar() {
        #expect(parse("Bearer mF_9.B5f-4.1JqM") == .success("mF_9.B5f-4.1JqM"))  // RFC 6750 §2.1 example
        #expect(parse("Bearer abc+/~==") == .success("abc+/~=="))
        #expect(parse("Bearer  spaced") == .success("spaced"), "1*SP")
        #expect(parse("  Bearer tok \t") == .success("tok"), "field OWS is not part of the value")
    }

    /// RFC 9110 §11.1: the auth-scheme is case-insensitive.
    @Test func schemeIsCaseInsensitive() {
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            #expect(parse("\(scheme) tok") == .success("tok"))
        }
    }

    @Test func missing() {
        #expect(parse(nil) == .failure(.missing))
        #expect(parse("") == .failure(.missing))
        #expect(parse("   ") == .failure(.missing))
    }

    @Test(arguments: [
        "Bearer", "Bearer ", "Bearer\ttok", "Basic dXNlcjpwYXNz", "Bearertok", "Bearer tok tok",
        "Bearer tok,", "Bearer =abc", "Bearer ab=c", "Bearer tök", "Bearer tok\0", "Bearer \"tok\"",
        "Bearer tok\r\n", "Token tok", "Bearer: tok",
    ])
    func malformed(_ value: String) {
        #expect(parse(value) == .failure(.malformed))
    }

    @Test func lengthIsCheckedFirst() {
        let token = String(repeating: "a", count: 100)
        #expect(parse("Bearer " + token, max: 107) == .success(token))
        #expect(parse("Bearer " + token, max: 106) == .failure(.tooLong))
        #expect(parse(String(repeating: "\u{1}", count: 5000)) == .failure(.tooLong), "oversized garbage is not parsed")
    }
}
