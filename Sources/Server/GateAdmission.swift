import DequeModule
import Foundation
import NIOCore
import Prometheus
import RateLimit
import Synchronization

/// Accept-time admission through the RateLimit module's connection gate: global and
/// per-address caps, connection rates and concurrent handshakes, decided before any TLS
/// work (DESIGN.md principle 3). Rejections are counted by reason; gauges follow the
/// open connections and handshakes, and the per-address rate table is exported like the other
/// limiters' (`limiter="connection"`).
///
/// A peer in `limits.trusted_proxies` is exempt from the per-address checks (connections,
/// handshakes and connection rate per address): it is the operator's own proxy and speaks for
/// every client behind it, so keying on it would hold the whole service to one address's
/// limits and let any one client behind it use them all up. The global caps still apply.
public final class GateAdmission: ConnectionAdmission {
    let gate: SharedConnectionGate
    let trustedProxies: TrustedProxies
    let metrics: ServerMetrics?
    let gateMetrics: GateMetrics?
    let idle = IdleConnections()
    /// Connections in their handshake, for the handshake cap.
    let handshaking = AdmittedConnections(retaining: .handshaking)
    /// Open connections, for the global cap once no idle one is left.
    let openConnections = AdmittedConnections(retaining: .open)

    public init(configuration: ConnectionGate.Configuration, trustedProxies: TrustedProxies = TrustedProxies(), metrics: ServerMetrics?) {
        let gate = SharedConnectionGate(configuration)
        self.gate = gate
        self.trustedProxies = trustedProxies
        self.metrics = metrics
        gateMetrics = metrics.map { GateMetrics(gate: gate, metrics: $0, rateTable: configuration.perAddressRate != nil) }
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
        // Not a rejection: counted apart, under the cap it made room at (`reason="global_cap"`).
        if case .reject(.globalCap) = decision, let evicted = idle.evictOldest() {
            evicted.close()
            metrics?.counter(.connectionsEvicted, ConnectionGate.RejectReason.globalCap.rawValue).increment()
            decision = gate.admit(key)
        }
        // With no idle connection left, the address holding the most connections that serve no
        // request (in their handshake, reading a head, or taking a finished answer) gives up
        // its oldest to a client that would then hold fewer: 64 addresses trickling heads up
        // to their own cap (64 each) filled the global cap and locked every other client out.
        // A connection serving a request (a call, an SSE stream) is never closed for it.
        if case .reject(.globalCap) = decision, openConnections.greediest(over: key, among: .unoccupied) != nil {
            metrics?.counter(.connectionsEvicted, ConnectionGate.RejectReason.globalCap.rawValue).increment()
            decision = gate.admit(key)
        }
        // At the handshake cap, the address holding the most handshakes gives one up (its
        // oldest) to a client that would then hold fewer. Without it, a few addresses holding
        // silent connections up to their own cap (16 addresses × 16, re-opened at every
        // handshake deadline) locked every other new client out.
        if case .reject(.handshakes) = decision, gate.admitsOnceAHandshakeCloses(key),
           handshaking.greediest(over: key, among: .handshaking) != nil {
            metrics?.counter(.connectionsEvicted, ConnectionGate.RejectReason.handshakes.rawValue).increment()
            decision = gate.admit(key)
        }
        switch decision {
        case .reject(let reason):
            metrics?.counter(.connectionsRejected, reason.rawValue).increment()
            return nil
        case .admit:
            let ticket = GateTicket(gate: gate, key: key, channel: channel, idle: idle)
            handshaking.append(ticket)
            openConnections.append(ticket)
            channel.closeFuture.whenComplete { _ in ticket.closed() }
            return ticket
        }
    }

    public var snapshot: SharedConnectionGate.Snapshot { gate.snapshot() }
}

/// The gate's gauges and its rate table's series, brought up to date from one snapshot each
/// time the metrics are rendered. Updated on every change instead (an admission, a handshake's
/// end, a close: three snapshots and a dozen gauge stores per connection) they cost about 1 %
/// of a new TLS connection's CPU, for values only a scrape reads.
final class GateMetrics: Sendable {
    let gate: SharedConnectionGate
    private let active: Gauge
    private let httpActive: Gauge
    private let handshaking: Gauge
    private let rateTableKeys: Gauge?
    private let rateTableEvictions: Counter?
    /// Rate-table evictions already counted: snapshots taken on several event loops may arrive
    /// out of order, so only the increase past the largest seen is added.
    private let countedEvictions = Mutex<UInt64>(0)

    init(gate: SharedConnectionGate, metrics: ServerMetrics, rateTable: Bool) {
        self.gate = gate
        active = metrics.gauge(.connectionsActive)
        httpActive = metrics.gauge(.httpActiveConnections)
        handshaking = metrics.gauge(.tlsHandshakesInProgress)
        rateTableKeys = rateTable ? metrics.gauge(.rateLimitKeys, "connection") : nil
        rateTableEvictions = rateTable ? metrics.counter(.rateLimitEvictions, "connection") : nil
        metrics.beforeRender { [self] in update() }
    }

    func update() {
        // Snapshot and publish under one lock: two loops publishing outside it could store
        // an older snapshot last (1 active on an idle server, until the next connection).
        let added = countedEvictions.withLock { counted -> UInt64 in
            let snapshot = gate.snapshot()
            active.set(to: Double(snapshot.active))
            httpActive.set(to: Double(snapshot.active))
            handshaking.set(to: Double(snapshot.handshaking))
            rateTableKeys?.set(to: Double(snapshot.rateTableCount))
            guard snapshot.rateTableEvictions > counted else { return 0 }
            defer { counted = snapshot.rateTableEvictions }
            return snapshot.rateTableEvictions - counted
        }
        if added > 0 { rateTableEvictions?.increment(by: Int64(added)) }
    }
}

/// One admitted connection's place in the gate: released exactly once, and counted as
/// handshaking until TLS (or nothing, for plaintext) is done.
final class GateTicket: AdmissionTicket {
    let gate: SharedConnectionGate
    /// Nil for a trusted proxy (see ``GateAdmission``).
    let key: ClientAddressKey?
    let idle: IdleConnections
    private let state: Mutex<State>

    fileprivate struct State {
        var handshaking = true
        var open = true
        /// A request's task runs (a call, an SSE stream).
        var serving = false
        /// A response ended and the connection is not listed idle yet: its answer may still
        /// be going out to the client.
        var answering = false
        /// Dropped at the close: a closed ticket may wait in an ``AdmittedConnections`` queue
        /// for its next sweep, and must not keep the channel (and its buffers) alive.
        var channel: (any Channel)?
    }

    /// What a connection must be doing to be closed for a newcomer at a cap.
    enum Standing: Sendable {
        /// Open and in its handshake.
        case handshaking
        /// Open, serving no request and not taking an answer (in its handshake, reading a
        /// head, or listed idle).
        case unoccupied
        /// Open.
        case open

        fileprivate func holds(_ s: State) -> Bool {
            switch self {
            case .handshaking: s.open && s.handshaking
            case .unoccupied: s.open && !s.serving && !s.answering
            case .open: s.open
            }
        }
    }

    init(gate: SharedConnectionGate, key: ClientAddressKey?, channel: any Channel, idle: IdleConnections) {
        self.gate = gate
        self.key = key
        self.idle = idle
        self.state = Mutex(State(channel: channel))
    }

    func stands(_ standing: Standing) -> Bool { state.withLock { standing.holds($0) } }

    /// Closes the connection for a newcomer if it still stands as `standing`, checked and
    /// ended under one lock: its handshake may finish, or a request start, on its own loop
    /// between the choice and the close, and an established connection, or one serving a
    /// request, must not be the one closed.
    func evict(ifStill standing: Standing) -> Bool {
        let taken = state.withLock { s -> (channel: (any Channel)?, duringHandshake: Bool)? in
            guard standing.holds(s) else { return nil }
            defer { s.open = false; s.channel = nil }
            return (s.channel, s.handshaking)
        }
        guard let taken else { return false }
        idle.markBusy(self)
        gate.closed(key, duringHandshake: taken.duringHandshake)
        taken.channel?.close(promise: nil)
        return true
    }

    /// Closes the connection (an idle one the global cap makes room with).
    func close() {
        let channel = state.withLock { $0.channel }
        closed()
        channel?.close(promise: nil)
    }

    /// A closed ticket is never listed as idle: a request that ends on a connection evicted
    /// a moment before (closed here by the accepting thread, its channel later on its own
    /// loop) would list it for good, and the next eviction would pick a connection already
    /// gone. Marked under this ticket's lock, which ``closed()`` takes first.
    func connectionIdle(_ isIdle: Bool) {
        if isIdle {
            state.withLock { s in
                s.answering = false
                if s.open { idle.markIdle(self) }
            }
        } else {
            state.withLock { $0.answering = false }
            idle.markBusy(self)
        }
    }

    /// Remembered: at the global cap a connection serving a request, or taking the answer it
    /// ended with, is never the one closed (``AdmittedConnections/greediest(over:among:)``).
    func serving(_ serving: Bool) {
        state.withLock { s in
            s.serving = serving
            s.answering = !serving
        }
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
            s.channel = nil
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

/// Admitted connections, oldest first, kept while they stand as `retains`: where one is
/// closed when a new client arrives at a cap (``greediest(over:among:)``).
///
/// Appended to once per connection; entries that no longer stand so are dropped lazily,
/// when they outnumber the live ones at the last sweep (plus 64), so the queue stays within
/// about twice the connections it is for (a closed ticket keeps no channel). Only at a cap
/// is it walked, and not again while nothing was added since a walk that found no address
/// holding more than one (then no newcomer can be given room), for up to a second: a flood
/// refused at the cap does not walk it for every connection.
final class AdmittedConnections: Sendable {
    private struct State {
        var order = Deque<GateTicket>()
        var liveAtLastSweep = 0
        /// The last walk found no address holding more than one, and nothing was added since.
        var fruitlessSince: Nanoseconds?
    }

    private let state = Mutex(State())
    private let retains: GateTicket.Standing

    init(retaining retains: GateTicket.Standing) {
        self.retains = retains
    }

    func append(_ ticket: GateTicket) {
        state.withLock { s in
            s.order.append(ticket)
            s.fruitlessSince = nil
            if s.order.count > 2 * s.liveAtLastSweep + 64 {
                s.order.removeAll { !$0.stands(retains) }
                s.liveAtLastSweep = s.order.count
            }
        }
    }

    /// Closes the oldest connection standing as `among` of the address holding the most such,
    /// when that address holds more than `newcomer` would once admitted (so no two addresses
    /// take turns closing each other's), and returns it; nil when there is none. A trusted
    /// proxy (no key) is never chosen, and counts as holding none. Holding the cap then takes
    /// as many addresses as the cap has places.
    func greediest(over newcomer: ClientAddressKey?, among standing: GateTicket.Standing,
                   now: Nanoseconds = MonotonicClock.now()) -> GateTicket? {
        let chosen: GateTicket? = state.withLock { s in
            if let since = s.fruitlessSince, now - since < 1_000_000_000 { return nil }
            s.order.removeAll { !$0.stands(retains) }
            s.liveAtLastSweep = s.order.count
            var held: [ClientAddressKey: Int] = [:]
            for ticket in s.order where ticket.stands(standing) {
                if let key = ticket.key { held[key, default: 0] += 1 }
            }
            guard let (key, count) = held.max(by: { $0.value < $1.value }) else {
                s.fruitlessSince = now
                return nil
            }
            if count <= 1 { s.fruitlessSince = now }
            guard count > (newcomer.flatMap { held[$0] } ?? 0) + 1,
                  let index = s.order.firstIndex(where: { $0.key == key && $0.stands(standing) }) else { return nil }
            return s.order.remove(at: index)
        }
        // Closed outside the queue's lock, and only if it still stands so (see ``GateTicket/evict(ifStill:)``).
        guard let chosen, chosen.evict(ifStill: standing) else { return nil }
        return chosen
    }

    /// Queue entries, live and stale (for tests).
    var queueLength: Int { state.withLock { $0.order.count } }
}
