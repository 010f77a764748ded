import Foundation
import NIOCore
import Prometheus
import RateLimit
import Synchronization

/// Accept-time admission through the RateLimit module's connection gate: global and
/// per-address caps, connection rates and concurrent handshakes, decided before any TLS
/// work (DESIGN.md principle 3). Rejections are counted by reason; gauges follow the
/// open connections.
public final class GateAdmission: ConnectionAdmission {
    let gate: SharedConnectionGate
    let metrics: ServerMetrics?

    public init(configuration: ConnectionGate.Configuration, metrics: ServerMetrics?) {
        gate = SharedConnectionGate(configuration)
        self.metrics = metrics
        metrics?.gauge(.connectionsMax).set(to: Double(configuration.maxConnections))
    }

    public func admit(_ channel: any Channel) -> (any AdmissionTicket)? {
        guard let ip = channel.remoteAddress?.ipAddress, let key = ClientAddressKey(ip: ip) else {
            metrics?.counter(.connectionsRejected, "no_address").increment()
            return nil
        }
        switch gate.admit(key) {
        case .reject(let reason):
            metrics?.counter(.connectionsRejected, reason.rawValue).increment()
            return nil
        case .admit:
            let ticket = GateTicket(gate: gate, key: key)
            updateGauges()
            channel.closeFuture.whenComplete { [self] _ in
                ticket.closed()
                updateGauges()
            }
            return ticket
        }
    }

    public var snapshot: SharedConnectionGate.Snapshot { gate.snapshot() }

    private func updateGauges() {
        let open = gate.snapshot().active
        metrics?.gauge(.connectionsActive).set(to: Double(open))
        metrics?.gauge(.httpActiveConnections).set(to: Double(open))
    }
}

/// One admitted connection's place in the gate: released exactly once, and counted as
/// handshaking until TLS (or nothing, for plaintext) is done.
final class GateTicket: AdmissionTicket {
    let gate: SharedConnectionGate
    let key: ClientAddressKey
    private let state = Mutex<(handshaking: Bool, open: Bool)>((true, true))

    init(gate: SharedConnectionGate, key: ClientAddressKey) {
        self.gate = gate
        self.key = key
    }

    func handshakeFinished() {
        let first = state.withLock { s -> Bool in
            guard s.handshaking, s.open else { return false }
            s.handshaking = false
            return true
        }
        if first { gate.handshakeFinished(key) }
    }

    func closed() {
        let (wasOpen, duringHandshake) = state.withLock { s -> (Bool, Bool) in
            let result = (s.open, s.handshaking)
            s.open = false
            return result
        }
        if wasOpen { gate.closed(key, duringHandshake: duringHandshake) }
    }
}
