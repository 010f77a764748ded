import Foundation
import NIOCore
import Prometheus
import TLS

/// Terminates TLS on every public connection with the OpenSSL handler. Each connection
/// takes the reloader's context at accept, so a certificate swap affects new connections
/// only; live ones keep the context they started with.
public struct OpenSSLSecurity: ConnectionSecurity {
    let reloader: TLSContextReloader
    let handshakeTimeout: TimeAmount
    let observer: HandshakeMetrics

    public init(reloader: TLSContextReloader, handshakeTimeout: Duration, metrics: ServerMetrics?) {
        self.reloader = reloader
        self.handshakeTimeout = TimeAmount(handshakeTimeout)
        self.observer = HandshakeMetrics(metrics: metrics)
        if let notAfter = reloader.current.certificateNotAfter {
            metrics?.gauge(.tlsCertNotAfter).set(to: notAfter)
        }
    }

    public func makeHandlers(for channel: any Channel) throws -> [any ChannelHandler] {
        [TLSHandler(context: reloader.current, role: .server, handshakeTimeout: handshakeTimeout, observer: observer)]
    }

    public func isHandshakeCompletion(_ event: Any) -> Bool {
        if case .handshakeCompleted? = event as? TLSEvent { return true }
        return false
    }
}

/// `mcp_tls_handshakes_total{result}` and the handshake duration histogram; a timeout is
/// also a `mcp_timeouts_total{phase="handshake"}`.
struct HandshakeMetrics: TLSObserver {
    let metrics: ServerMetrics?

    func handshakeFinished(result: TLSHandshakeResult, duration: Duration) {
        guard let metrics else { return }
        metrics.counter(.tlsHandshakes, result.rawValue).increment()
        if result == .ok { metrics.histogram(.tlsHandshakeDuration).record(duration) }
        if result == .timeout { metrics.counter(.timeouts, "handshake").increment() }
    }
}
