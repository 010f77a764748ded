import DequeModule
import Foundation
import NIOCore
import Prometheus
import RateLimit
import Synchronization

/// Accept-time admission through the RateLimit module's connection gate: global and
/// per-address caps, connection rates and concurrent handshakes, decided before any TLS
/// work (DESIGN.md principle 3). Rejections are counted by reason; gauges follow the
/// open connections.
///
/// A peer in `limits.trusted_proxies` is exempt from the per-address checks (connections,
/// handshakes and connection rate per address): it is the operator's own proxy and speaks for
/// every client behind it, so keying on it would hold the whole service to one address's
/// limits and let any one client behind it use them all up. The global caps still apply.
public final class GateAdmission: ConnectionAdmission {
    let gate: SharedConnectionGate
    let trustedProxies: TrustedProxies
    let metrics: ServerMetrics?
    let idle = IdleConnections()

    public init(configuration: ConnectionGate.Configuration, trustedProxies: TrustedProxies = TrustedProxies(), metrics: ServerMetrics?) {
        gate = SharedConnectionGate(configuration)
        self.trustedProxies = trustedProxies
        self.metrics = metrics
        metrics?.gauge(.connectionsMax).set(to: Double(configuration.maxConnections))
    }

    public func admit(_ channel: any Channel) -> (any AdmissionTicket)? {
        guard let peer = channel.remoteAddress?.clientIPAddress else {
            metrics?.counter(.connectionsRejected, "no_address").increment()
            return nil
        }
        let key: ClientAddressKey? = trustedProxies.isTrusted(peer) ? nil : ClientAddressKey(peer)
        var decision = gate.admit(key)
        // At the global cap, an idle keep-alive connection makes room for a new client
        // (issue 5 §4): its slot is released now, the socket closed, and the gate asked again.
        // The gate reports the global cap only for a connection that passes every other check.
        if case .reject(.globalCap) = decision, let evicted = idle.evictOldest() {
            evicted.closed()
            evicted.channel.close(promise: nil)
            metrics?.counter(.connectionsRejected, "idle_evicted").increment()
            decision = gate.admit(key)
        }
        switch decision {
        case .reject(let reason):
            metrics?.counter(.connectionsRejected, reason.rawValue).increment()
            return nil
        case .admit:
            let ticket = GateTicket(gate: gate, key: key, channel: channel, idle: idle)
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
    /// Nil for a trusted proxy (see ``GateAdmission``).
    let key: ClientAddressKey?
    let channel: any Channel
    let idle: IdleConnections
    private let state = Mutex<(handshaking: Bool, open: Bool)>((true, true))

    init(gate: SharedConnectionGate, key: ClientAddressKey?, channel: any Channel, idle: IdleConnections) {
        self.gate = gate
        self.key = key
        self.channel = channel
        self.idle = idle
    }

    func connectionIdle(_ isIdle: Bool) {
        if isIdle { idle.markIdle(self) } else { idle.markBusy(self) }
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
        if wasOpen {
            idle.markBusy(self)
            gate.closed(key, duringHandshake: duringHandshake)
        }
    }
}

/// Connections waiting between keep-alive requests, oldest first: the ones to close when a
/// new client arrives at the global cap.
///
/// Every request marks its connection busy, then idle again, so this runs twice per request:
/// both are O(1). The queue is cleaned lazily: an entry counts only if its stamp is the
/// connection's current one (a connection that went busy and idle again has a newer entry
/// further back), and stale entries are dropped once they outnumber the live ones.
final class IdleConnections: Sendable {
    private struct State {
        var order = Deque<(id: ObjectIdentifier, stamp: UInt64)>()
        var idle: [ObjectIdentifier: (ticket: GateTicket, stamp: UInt64)] = [:]
        var nextStamp: UInt64 = 0
    }

    private let state = Mutex(State())

    func markIdle(_ ticket: GateTicket) {
        let id = ObjectIdentifier(ticket)
        state.withLock { s in
            guard s.idle[id] == nil else { return }
            s.nextStamp += 1
            s.idle[id] = (ticket, s.nextStamp)
            s.order.append((id, s.nextStamp))
            if s.order.count > 2 * s.idle.count + 64 {
                let idle = s.idle
                s.order.removeAll { idle[$0.id]?.stamp != $0.stamp }
            }
        }
    }

    func markBusy(_ ticket: GateTicket) {
        _ = state.withLock { $0.idle.removeValue(forKey: ObjectIdentifier(ticket)) }
    }

    func evictOldest() -> GateTicket? {
        state.withLock { s in
            while let entry = s.order.popFirst() {
                if let current = s.idle[entry.id], current.stamp == entry.stamp {
                    s.idle.removeValue(forKey: entry.id)
                    return current.ticket
                }
            }
            return nil
        }
    }

    /// Queue entries, live and stale (for tests: stays within twice the idle count + 64).
    var queueLength: Int { state.withLock { $0.order.count } }
}
