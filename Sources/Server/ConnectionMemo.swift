import Auth
import RateLimit
import Synchronization

/// What one public connection remembers between its requests: its peer's address, formatted
/// once by the listener, the thumbprint of the TLS client certificate it presented (fixed for
/// the connection's life: renegotiation is off), the key the failure limiter files that address under, and the last
/// credential the token verifier accepted on it (``AcceptedCredential``). Keep-alive clients
/// send the same address and header on every request; this spares parsing the one and hashing
/// the other each time. Shared by the connection's request tasks, which run one at a time.
public final class ConnectionMemo: Sendable {
    let peerAddress: String?
    /// Nil without a client certificate, and on plaintext connections.
    let clientCertificate: CertificateThumbprint?
    /// Cancels the work of the request in progress when the connection closes.
    let watch: ConnectionWatch
    private struct State {
        var addressKey: (address: String, key: ClientAddressKey?)?
        var credential: AcceptedCredential?
        /// The client address the credential was accepted from (behind a trusted proxy, one
        /// connection carries many clients).
        var credentialAddress: String?
    }
    private let state = Mutex(State())

    init(peerAddress: String?, clientCertificate: CertificateThumbprint? = nil, watch: ConnectionWatch = ConnectionWatch()) {
        self.peerAddress = peerAddress
        self.clientCertificate = clientCertificate
        self.watch = watch
    }

    /// The failure limiter's key for `address`, parsed once while the address stays the same
    /// (behind a trusted proxy it can change from request to request).
    func addressKey(_ address: String) -> ClientAddressKey? {
        if let (known, key) = state.withLock({ $0.addressKey }), known == address { return key }
        let key = ClientAddressKey(ip: address)
        state.withLock { $0.addressKey = (address, key) }
        return key
    }

    /// The credential remembered, if it was accepted from `address`.
    func credential(from address: String) -> AcceptedCredential? {
        state.withLock { $0.credentialAddress == address ? $0.credential : nil }
    }

    func remember(_ credential: AcceptedCredential?, from address: String) {
        state.withLock {
            $0.credential = credential
            $0.credentialAddress = address
        }
    }
}
