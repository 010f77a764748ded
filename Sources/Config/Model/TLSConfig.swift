/// `tls`: the public listener's certificate and policy, plus the outbound client's trust.
public struct TLSConfig: Codable, Sendable, Equatable {
    public var enabled = true
    public var certFile = ""
    public var keyFile = ""
    public var profile = TLSProfile.intermediate
    public var clientAuth = ClientAuth.off
    /// Required when `client_auth` is not `off`.
    public var clientCaFile = ""
    public var handshakeTimeout = ConfigDuration.seconds(10)
    /// Listener only, per connection: ciphertext not yet sent (reads stop above half of it; a
    /// write while over it closes the connection), and ciphertext received but not yet decrypted.
    public var maxBufferedCiphertext = ByteSize.kibibytes(256)
    /// Listener only, per connection: TLS 1.3 KeyUpdates a client may send (each costs a key
    /// derivation); one more closes the connection.
    public var maxKeyUpdates = 32
    /// How often the certificate files' mtimes are polled for a reload; 0 disables.
    public var reloadInterval = ConfigDuration.seconds(5)
    /// Outbound only (backend APIs); never affects the listener.
    public var skipVerify = false
    /// Outbound CA bundle; empty = system trust store.
    public var caFile = ""
    public var sessionTickets = false

    public init() {}
}

/// Mozilla's server-side profiles: intermediate = TLS 1.2 + 1.3, modern = TLS 1.3 only.
public enum TLSProfile: String, ConfigEnum {
    case intermediate, modern
}

public enum ClientAuth: String, ConfigEnum {
    case off, optional, required
}
