import NIOCore
import Prometheus
import RateLimit
import Synchronization

/// The ops listener's admission: a cap on its open connections, and nothing else (it is
/// plaintext, bound to loopback by default, and its clients are a scraper and a health
/// check), so a local process holding connections open cannot exhaust the descriptors the
/// public listener needs.
///
/// At the cap the longest-idle keep-alive connection is closed to make room, like the public
/// gate does at its global cap, and counted as `mcp_connections_evicted_total{reason="ops_cap"}`:
/// in Kubernetes the ops port listens on every address so that probes reach it, and a first-come
/// cap would let any pod that sends a request on each of 64 keep-alive connections just often
/// enough to beat the idle deadline shut out the liveness probe. Only when every connection is
/// opening or serving a request is the new one closed at accept, counted as
/// `mcp_connections_rejected_total{reason="ops_cap"}`: one that sends nothing, or too little,
/// is closed by the header deadline, and the ops routes answer at once.
final class OpsAdmission: ConnectionAdmission {
    let maxConnections: Int
    let metrics: ServerMetrics?
    private let slots: Mutex<IdleEvictingCap<Ticket>>

    init(maxConnections: Int, metrics: ServerMetrics?) {
        self.maxConnections = maxConnections
        self.metrics = metrics
        slots = Mutex(IdleEvictingCap(capacity: maxConnections))
    }

    func admit(_ channel: any Channel) -> (any AdmissionTicket)? {
        let ticket = Ticket(channel: channel, admission: self)
        switch slots.withLock({ $0.admit(ticket) }) {
        case .reject:
            metrics?.counter(.connectionsRejected, "ops_cap").increment()
            return nil
        case .admitEvicting(let evicted):
            evicted.channel.close(promise: nil)
            metrics?.counter(.connectionsEvicted, "ops_cap").increment()
        case .admit:
            break
        }
        channel.closeFuture.whenComplete { [self] _ in _ = slots.withLock { $0.closed(ticket) } }
        return ticket
    }

    /// Connections holding a place (for tests).
    var count: Int { slots.withLock { $0.count } }

    /// One admitted connection, known to ``slots`` by identity (and held there only while it
    /// holds a place, so the reference back to the admission makes no lasting cycle).
    final class Ticket: AdmissionTicket, Hashable {
        let channel: any Channel
        let admission: OpsAdmission

        init(channel: any Channel, admission: OpsAdmission) {
            self.channel = channel
            self.admission = admission
        }

        /// Plaintext: nothing to wait for.
        func handshakeFinished() {}

        func connectionIdle(_ idle: Bool) {
            admission.slots.withLock { idle ? $0.markIdle(self) : $0.markBusy(self) }
        }

        static func == (a: Ticket, b: Ticket) -> Bool { a === b }
        func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
    }
}
