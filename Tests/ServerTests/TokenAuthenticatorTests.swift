import Auth
import MCPCore
import Testing
@testable import MCPServerKit

/// What a connection remembers (``ConnectionMemo``) never outlives a reload of the tokens nor
/// gets around the failure lockout.
@Suite struct TokenAuthenticatorTests {
    let secret = "ci-0123456789abcdef0123456789abcdef"
    let other = "other-0123456789abcdef0123456789abcdef"

    func authenticator(_ secrets: [String], maxFailures: Int = 100) throws -> TokenAuthenticator {
        let store = try TokenStore(secrets.enumerated().map { StoredToken(name: "t\($0.offset)", secret: $0.element) })
        return TokenAuthenticator(store: store, maxHeaderBytes: 4096,
                                  failureLimit: .init(maxFailures: maxFailures, window: 60_000_000_000, lockout: 60_000_000_000, capacity: 16),
                                  metrics: nil)
    }

    func name(_ outcome: AuthOutcome) -> String? {
        if case .allowed(let principal) = outcome { principal.name } else { nil }
    }

    func reason(_ outcome: AuthOutcome) -> String? {
        if case .denied(let reason, _, _, _) = outcome { reason } else { nil }
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

    @Test func aLockedOutAddressIsRefusedEvenWithARememberedToken() throws {
        let tokens = try authenticator([secret], maxFailures: 2)
        let connection = ConnectionMemo(peerAddress: "127.0.0.9")
        #expect(name(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.9", connection: connection)) == "t0")
        for _ in 0..<2 {
            #expect(reason(tokens.authenticate(authorization: "Bearer wrong", clientAddress: "127.0.0.9", connection: connection)) == "invalid")
        }
        #expect(reason(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.9", connection: connection)) == "locked_out")
        // Another address, behind a trusted proxy on the same connection, is not locked out.
        #expect(name(tokens.authenticate(authorization: "Bearer \(secret)", clientAddress: "127.0.0.10", connection: connection)) == "t0")
    }
}
