import NIOCore
import Prometheus
import RateLimit
import Synchronization

/// The ops listener's admission: a cap on its open connections, and nothing else (it is
/// plaintext, bound to loopback by default, and its clients are a scraper and a health
/// check), so a local process holding connections open cannot exhaust the descriptors the
/// public listener needs.
///
/// At the cap the connection that has waited longest without a request to serve (just
/// opened, reading a head, idle between keep-alive requests, or holding a pipelined request
/// until the client reads the response before it) is closed to make room, and counted as
/// `mcp_connections_evicted_total{reason="ops_cap"}`: in Kubernetes the ops port listens on
/// every address so that probes reach it, and a first-come cap would let any pod that holds 64
/// connections (silent, trickling a head, kept alive, or pipelining without reading) shut out
/// the liveness probe. Only when every connection is serving a request (from its task's start
/// to its response's end, ``Ticket/serving(_:)``; the ops routes answer at once) is the new
/// one closed at accept, counted as `mcp_connections_rejected_total{reason="ops_cap"}`.
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

        /// Nothing: ``serving(_:)`` says when the connection stops waiting. A request's first
        /// byte leaves it waiting (a slow head is the cheapest way to hold a place).
        func connectionIdle(_ idle: Bool) {}

        func serving(_ serving: Bool) {
            admission.slots.withLock { serving ? $0.markBusy(self) : $0.markIdle(self) }
        }

        static func == (a: Ticket, b: Ticket) -> Bool { a === b }
        func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
    }
}
