import NIOCore
import Prometheus
import Synchronization

/// The ops listener's admission: a cap on its open connections, and nothing else (it is
/// plaintext, bound to loopback by default, and its clients are a scraper and a health
/// check). Over the cap a new connection is closed at accept and counted as
/// `mcp_connections_rejected_total{reason="ops_cap"}`: a local process holding connections
/// open cannot exhaust the descriptors the public listener needs, and what it holds is
/// released by the ops listener's header and idle deadlines.
final class OpsAdmission: ConnectionAdmission {
    let maxConnections: Int
    let metrics: ServerMetrics?
    private let open = Mutex(0)

    init(maxConnections: Int, metrics: ServerMetrics?) {
        self.maxConnections = maxConnections
        self.metrics = metrics
    }

    func admit(_ channel: any Channel) -> (any AdmissionTicket)? {
        let admitted = open.withLock { open in
            guard open < maxConnections else { return false }
            open += 1
            return true
        }
        guard admitted else {
            metrics?.counter(.connectionsRejected, "ops_cap").increment()
            return nil
        }
        channel.closeFuture.whenComplete { [self] _ in open.withLock { $0 -= 1 } }
        return Ticket()
    }

    /// Open ops connections (for tests).
    var count: Int { open.withLock { $0 } }

    /// Plaintext and never evicted: nothing to be told.
    private struct Ticket: AdmissionTicket {
        func handshakeFinished() {}
        func connectionIdle(_ idle: Bool) {}
    }
}
