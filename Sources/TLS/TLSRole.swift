/// Which side of the handshake a `TLSHandler` plays.
public enum TLSRole: Sendable, Equatable {
    case server
    /// `serverName` is sent as SNI (RFC 6066 §3; not for IP literals) and checked against the
    /// peer certificate (RFC 6125: DNS names, or IP addresses for an IP literal). nil skips the
    /// host name check (chain verification still applies when the context verifies peers).
    case client(serverName: String?)
}

/// Events the handler fires into the pipeline (`fireUserInboundEventTriggered`).
public enum TLSEvent: Sendable, Equatable {
    /// The handshake completed; `alpn` is the negotiated protocol (nil if none).
    case handshakeCompleted(alpn: String?)
    /// The peer sent close_notify (RFC 8446 §6.1).
    case closeNotifyReceived
}

/// How a handshake ended, as counted by `mcp_tls_handshakes_total{result}` (bounded label set).
public enum TLSHandshakeResult: String, Sendable, CaseIterable {
    case ok
    case timeout
    case protocolError = "protocol_error"
    case noSharedCipher = "no_shared_cipher"
    case unsupportedVersion = "unsupported_version"
    case clientCertRejected = "client_cert_rejected"
    /// Client role: the server's chain or host name did not verify.
    case peerCertRejected = "peer_cert_rejected"
    case noApplicationProtocol = "no_application_protocol"
    /// The peer ended the handshake with an alert of its own: on the server, usually a
    /// client that does not trust our certificate (unknown_ca, bad_certificate).
    case peerAlert = "peer_alert"
    /// The peer closed TCP before the handshake finished.
    case closed
}

/// What the handler did at its ciphertext cap (`maxBufferedCiphertext`), as counted by
/// `mcp_tls_backpressure_total{event}`.
public enum TLSBackpressureEvent: String, Sendable, CaseIterable {
    /// Unsent ciphertext passed half the cap: reads from the socket stop until it drains.
    case readsPaused = "reads_paused"
    /// A buffer passed the cap: the connection was closed.
    case closed
}

/// Receives one call per connection when its handshake ends, and one per backpressure event
/// (metrics). Called on the event loop: keep it cheap and non-blocking.
public protocol TLSObserver: Sendable {
    func handshakeFinished(result: TLSHandshakeResult, duration: Duration)
    func backpressure(_ event: TLSBackpressureEvent)
    /// A connection was closed for more KeyUpdates than it may send (`maxKeyUpdates`).
    func keyUpdatesExceeded()
}

extension TLSObserver {
    public func backpressure(_ event: TLSBackpressureEvent) {}
    public func keyUpdatesExceeded() {}
}
