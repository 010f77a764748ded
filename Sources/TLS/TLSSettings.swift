/// Which Mozilla "Server Side TLS" (v5.7) profile the context follows.
public enum TLSProfile: String, Sendable, CaseIterable {
    /// TLS 1.2 + 1.3, ECDHE with AES-GCM / ChaCha20-Poly1305 for 1.2. The default: every client
    /// of the last decade connects, nothing weak is offered.
    case intermediate
    /// TLS 1.3 only.
    case modern
}

/// Whether the server asks for a client certificate (mTLS).
public enum ClientAuthMode: String, Sendable, CaseIterable {
    /// No certificate is requested.
    case off
    /// A certificate is requested; a client without one is accepted, a client with a bad one is refused.
    case optional
    /// A client without a certificate that verifies against `clientCAFile` is refused.
    case required
}

/// Everything a server context is built from. Two equal settings build equivalent contexts.
public struct TLSServerSettings: Sendable, Equatable {
    /// PEM file: the leaf certificate first, then its intermediates.
    public var certificateChainFile: String
    /// PEM file: the private key (RSA or ECDSA) of the leaf certificate.
    public var privateKeyFile: String
    public var profile: TLSProfile
    public var clientAuth: ClientAuthMode
    /// PEM bundle of CAs that client certificates must chain to; required unless `clientAuth` is `.off`.
    public var clientCAFile: String?
    /// Off by default: see `TLSContext.server(_:)` for why.
    public var sessionTickets: Bool

    public init(
        certificateChainFile: String,
        privateKeyFile: String,
        profile: TLSProfile = .intermediate,
        clientAuth: ClientAuthMode = .off,
        clientCAFile: String? = nil,
        sessionTickets: Bool = false
    ) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.profile = profile
        self.clientAuth = clientAuth
        self.clientCAFile = clientCAFile
        self.sessionTickets = sessionTickets
    }
}
