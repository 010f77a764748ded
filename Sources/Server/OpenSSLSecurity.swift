import Auth
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
    let maxBufferedCiphertext: Int
    let maxKeyUpdates: Int
    let observer: TLSMetrics

    public init(
        reloader: TLSContextReloader, handshakeTimeout: Duration, maxBufferedCiphertext: Int, maxKeyUpdates: Int,
        metrics: ServerMetrics?
    ) {
        self.reloader = reloader
        self.handshakeTimeout = TimeAmount(handshakeTimeout)
        self.maxBufferedCiphertext = maxBufferedCiphertext
        self.maxKeyUpdates = maxKeyUpdates
        self.observer = TLSMetrics(metrics: metrics)
        if let notAfter = reloader.current.certificateNotAfter {
            metrics?.gauge(.tlsCertNotAfter).set(to: notAfter)
        }
    }

    public func makeHandlers(for channel: any Channel) throws -> [any ChannelHandler] {
        [TLSHandler(
            context: reloader.current, role: .server, handshakeTimeout: handshakeTimeout,
            maxBufferedCiphertext: maxBufferedCiphertext, maxKeyUpdates: maxKeyUpdates, observer: observer)]
    }

    public func isHandshakeCompletion(_ event: Any) -> Bool {
        if case .handshakeCompleted? = event as? TLSEvent { return true }
        return false
    }

    public func clientCertificate(of channel: any Channel) -> CertificateThumbprint? {
        guard let handler = try? channel.pipeline.syncOperations.handler(type: TLSHandler.self),
              let digest = handler.peerCertificateSHA256 else { return nil }
        return CertificateThumbprint(bytes: digest)
    }
}

/// `mcp_tls_handshakes_total{result}` and the handshake duration histogram; a timeout is
/// also a `mcp_timeouts_total{phase="handshake"}`; `mcp_tls_backpressure_total{event}`;
/// `mcp_tls_key_updates_exceeded_total`.
/// The children are looked up once, here: a lookup per handshake was 1.4 % of the server's
/// CPU per new connection.
final class TLSMetrics: TLSObserver {
    /// The result of almost every handshake, apart: looking a result up in the dictionary
    /// hashes its name (the raw value), once per connection.
    private let ok: Counter?
    private let others: [TLSHandshakeResult: Counter]
    private let duration: DurationHistogram?
    private let timeouts: Counter?
    private let backpressure: [TLSBackpressureEvent: Counter]
    private let keyUpdates: Counter?

    init(metrics: ServerMetrics?) {
        var others: [TLSHandshakeResult: Counter] = [:]
        if let metrics {
            for result in TLSHandshakeResult.allCases where result != .ok { others[result] = metrics.counter(.tlsHandshakes, result.rawValue) }
        }
        self.others = others
        ok = metrics?.counter(.tlsHandshakes, TLSHandshakeResult.ok.rawValue)
        duration = metrics?.histogram(.tlsHandshakeDuration)
        timeouts = metrics?.counter(.timeouts, "handshake")
        var backpressure: [TLSBackpressureEvent: Counter] = [:]
        if let metrics {
            for event in TLSBackpressureEvent.allCases { backpressure[event] = metrics.counter(.tlsBackpressure, event.rawValue) }
        }
        self.backpressure = backpressure
        keyUpdates = metrics?.counter(.tlsKeyUpdatesExceeded)
    }

    func backpressure(_ event: TLSBackpressureEvent) {
        backpressure[event]?.increment()
    }

    func keyUpdatesExceeded() {
        keyUpdates?.increment()
    }

    func handshakeFinished(result: TLSHandshakeResult, duration: Duration) {
        if result == .ok {
            ok?.increment()
            self.duration?.record(duration)
            return
        }
        others[result]?.increment()
        if result == .timeout { timeouts?.increment() }
    }
}
