// libFuzzer harness for the Authorization header parser and token verifier (Auth).
// Built by fuzz/run.sh together with Sources/Auth/*.swift and the COpenSSL module.
//
// Properties checked beyond "no crash, no ASan report":
// 1. The String and byte-buffer entry points agree.
// 2. An accepted credential is non-empty, no longer than the header, and made only of
//    RFC 6750 §2.1 b64token characters (token68 then trailing '=').
// 3. A header over the cap is refused as `.tooLong`, before any other check.
// 4. The verifier accepts a header iff the parsed token equals the stored secret.

import Foundation

let secret = "fuzz-secret-0123456789abcdefghijklmnop"
let maxLength = 512
let verifier = TokenVerifier(
    store: try! TokenStore([StoredToken(name: "fuzz", secret: secret)]),
    maxHeaderLength: maxLength
)
let now = Date(timeIntervalSince1970: 1_800_000_000)

private func isB64TokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
         UInt8(ascii: "0")...UInt8(ascii: "9"),
         UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
         UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="):
        return true
    default:
        return false
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAuthorization(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let raw = start.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
    let header = String(decoding: raw, as: UTF8.self)
    let utf8 = Array(header.utf8)

    let viaString = BearerCredentialParser.parse(headerValue: header, maxLength: maxLength)
    let viaBytes = utf8.withUnsafeBufferPointer { BearerCredentialParser.parse(bytes: $0, maxLength: maxLength) }
    fuzzCheck(viaString == viaBytes, "String and byte entry points disagree")

    if utf8.count > maxLength {
        fuzzCheck(viaString == .failure(.tooLong), "oversized header not refused as tooLong")
    }
    if case .success(let token) = viaString {
        fuzzCheck(!token.isEmpty && token.count < utf8.count, "token empty or longer than the header")
        fuzzCheck(token.allSatisfy(isB64TokenByte), "token has a byte outside b64token")
        fuzzCheck(token.first != UInt8(ascii: "="), "token starts with '='")
    }

    let decision = verifier.verify(authorization: header, now: now)
    let matches: Bool = if case .success(let token) = viaString { token == Array(secret.utf8) } else { false }
    switch decision {
    case .accepted(let stored):
        fuzzCheck(matches && stored.name == "fuzz", "accepted a header that does not carry the secret")
    case .rejected(let failure):
        fuzzCheck(!matches, "rejected the correct secret: \(failure)")
    }
    return 0
}

/// Like `precondition`, but the message survives -O (libFuzzer prints it with the reproducer).
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
