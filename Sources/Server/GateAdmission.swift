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
    let handshaking: AdmittedConnections
    /// Open connections, for the global cap once no idle one is left.
    let openConnections: AdmittedConnections

    /// `clock` times the queues' cached walks (tests inject one).
    public init(configuration: ConnectionGate.Configuration, trustedProxies: TrustedProxies = TrustedProxies(), metrics: ServerMetrics?,
                clock: @escaping @Sendable () -> Nanoseconds = MonotonicClock.now) {
        handshaking = AdmittedConnections(retaining: .handshaking, clock: clock)
        openConnections = AdmittedConnections(retaining: .open, clock: clock)
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
        if case .reject(.globalCap) = decision, idle.evictOldest() {
            metrics?.counter(.connectionsEvicted, ConnectionGate.RejectReason.globalCap.rawValue).increment()
            decision = gate.admit(key)
        }
        // With no idle connection left, the address holding the most connections that serve no
        // request (in their handshake, or reading a head) gives up its oldest to a client that
        // would then hold fewer: 64 addresses trickling heads up to their own cap (64 each)
        // filled the global cap and locked every other client out. A connection serving a
        // request (a call, an SSE stream), or still taking its answer, is never closed for it.
        if case .reject(.globalCap) = decision, openConnections.greediest(over: key, among: .unoccupied) {
            metrics?.counter(.connectionsEvicted, ConnectionGate.RejectReason.globalCap.rawValue).increment()
            decision = gate.admit(key)
        }
        // At the handshake cap, the address holding the most handshakes gives one up (its
        // oldest) to a client that would then hold fewer. Without it, a few addresses holding
        // silent connections up to their own cap (16 addresses × 16, re-opened at every
        // handshake deadline) locked every other new client out.
        if case .reject(.handshakes) = decision, gate.admitsOnceAHandshakeCloses(key),
           handshaking.greediest(over: key, among: .handshaking) {
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
        /// Listed as idle (between keep-alive requests, its answer written).
        var idle = false
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
        /// Open and listed idle.
        case idle
        /// Open.
        case open

        fileprivate func holds(_ s: State) -> Bool {
            switch self {
            case .handshaking: s.open && s.handshaking
            case .unoccupied: s.open && !s.serving && !s.answering
            case .idle: s.open && s.idle
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

    /// Ends the connection's place for a newcomer if it still stands as `standing`, checked and
    /// ended under one lock: its handshake may finish, or a request start, on its own loop
    /// between the choice and the close, and an established connection, or one serving a
    /// request, must not be the one closed. The caller then ``close(_:)``s what it returns.
    func claim(ifStill standing: Standing) -> Claimed? {
        state.withLock { s -> Claimed? in
            guard standing.holds(s) else { return nil }
            defer { s.open = false; s.channel = nil; s.idle = false }
            return Claimed(channel: s.channel, duringHandshake: s.handshaking)
        }
    }

    struct Claimed {
        let channel: (any Channel)?
        let duringHandshake: Bool
    }

    /// Releases a claimed place in the gate and closes the connection.
    func close(_ claimed: Claimed) {
        idle.markBusy(self)
        gate.closed(key, duringHandshake: claimed.duringHandshake)
        claimed.channel?.close(promise: nil)
    }

    /// A closed ticket is never listed as idle: a request that ends on a connection evicted
    /// a moment before (closed here by the accepting thread, its channel later on its own
    /// loop) would list it for good, and the next eviction would pick a connection already
    /// gone. Marked under this ticket's lock, which ``closed()`` takes first.
    func connectionIdle(_ isIdle: Bool) {
        if isIdle {
            state.withLock { s in
                s.answering = false
                guard s.open else { return }
                s.idle = true
                idle.markIdle(self)
            }
        } else {
            state.withLock { s in
                s.answering = false
                s.idle = false
            }
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

    /// The gate is told under the ticket's lock (the gate's own lock is taken last everywhere):
    /// told after it, a claim in between saw the handshake over and released the connection
    /// only; with the address's other connections gone meanwhile, the gate dropped the
    /// address, this call found no handshake to end, and the global count stayed one too high.
    func handshakeFinished() {
        state.withLock { s in
            guard s.handshaking, s.open else { return }
            s.handshaking = false
            gate.handshakeFinished(key)
        }
    }

    func closed() {
        let (wasOpen, duringHandshake) = state.withLock { s -> (Bool, Bool) in
            let result = (s.open, s.handshaking)
            s.open = false
            s.channel = nil
            s.idle = false
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

    /// Closes the connection idle the longest, one still idle when claimed (a request may
    /// have begun on it meanwhile, on its own loop); false when there is none. Claimed
    /// outside this list's lock: the ticket's lock is taken before it when a connection is
    /// listed (``GateTicket/connectionIdle(_:)``).
    func evictOldest() -> Bool {
        while let ticket = popOldest() {
            if let claimed = ticket.claim(ifStill: .idle) {
                ticket.close(claimed)
                return true
            }
        }
        return false
    }

    private func popOldest() -> GateTicket? {
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

    /// Connections listed (for tests).
    var listedCount: Int { state.withLock { $0.idle.count } }

    /// Queue entries, live and stale (for tests: stays within twice the idle count + 64).
    var queueLength: Int { state.withLock { $0.order.count } }
}

/// Admitted connections, oldest first, kept while they stand as `retains`: where one is
/// closed when a new client arrives at a cap (``greediest(over:among:)``).
///
/// Appended to once per connection; entries that no longer stand so are dropped lazily,
/// when they outnumber the live ones at the last sweep (plus 64), so the queue stays within
/// about twice the connections it is for (a closed ticket keeps no channel). Only at a cap
/// is it walked; and for a second after a walk, while nothing is added, the counts it found
/// answer a newcomer they say no connection can be closed for: a flood refused at the cap
/// does not walk it for every connection.
final class AdmittedConnections: Sendable {
    private struct State {
        var order = Deque<GateTicket>()
        var liveAtLastSweep = 0
        /// What the last walk counted, while nothing was added since: the most any address
        /// held, and each address's count.
        var counted: (at: Nanoseconds, most: Int, held: [ClientAddressKey: Int])?
        /// Walks of the queue since the start (for tests).
        var walks = 0
    }

    private let state = Mutex(State())
    private let retains: GateTicket.Standing
    private let clock: @Sendable () -> Nanoseconds

    init(retaining retains: GateTicket.Standing, clock: @escaping @Sendable () -> Nanoseconds = MonotonicClock.now) {
        self.retains = retains
        self.clock = clock
    }

    func append(_ ticket: GateTicket) {
        state.withLock { s in
            s.order.append(ticket)
            s.counted = nil
            if s.order.count > 2 * s.liveAtLastSweep + 64 {
                s.order.removeAll { !$0.stands(retains) }
                s.liveAtLastSweep = s.order.count
            }
        }
    }

    /// Closes the oldest connection standing as `among` of the address holding the most such,
    /// when that address holds more than `newcomer` would once admitted (so no two addresses
    /// take turns closing each other's), and returns true; false when there is none. A trusted
    /// proxy (no key) is never chosen, and counts as holding none. Holding the cap then takes
    /// as many addresses as the cap has places.
    func greediest(over newcomer: ClientAddressKey?, among standing: GateTicket.Standing) -> Bool {
        let claimed: (GateTicket, GateTicket.Claimed)? = state.withLock { s in
            // Read under the lock: two loops' readings taken before it could come in either order.
            let now = clock()
            if let counted = s.counted, now < counted.at + 1_000_000_000,
               counted.most <= (newcomer.flatMap { counted.held[$0] } ?? 0) + 1 {
                return nil
            }
            s.walks += 1
            s.order.removeAll { !$0.stands(retains) }
            s.liveAtLastSweep = s.order.count
            var held: [ClientAddressKey: Int] = [:]
            for ticket in s.order where ticket.stands(standing) {
                if let key = ticket.key { held[key, default: 0] += 1 }
            }
            let most = held.values.max() ?? 0
            s.counted = (now, most, held)
            guard most > (newcomer.flatMap { held[$0] } ?? 0) + 1 else { return nil }
            // The oldest of an address holding the most, still standing so when claimed (a
            // request may have begun on it, on its own loop): claimed under the queue's lock,
            // so one that escaped stays in the queue.
            for (index, ticket) in s.order.enumerated() {
                guard let key = ticket.key, held[key] == most, let claimed = ticket.claim(ifStill: standing) else { continue }
                s.order.remove(at: index)
                s.counted = nil
                return (ticket, claimed)
            }
            return nil
        }
        guard let (ticket, place) = claimed else { return false }
        ticket.close(place)
        return true
    }

    /// Queue entries, live and stale (for tests).
    var queueLength: Int { state.withLock { $0.order.count } }
    /// Walks of the queue so far (for tests).
    var walks: Int { state.withLock { $0.walks } }
}
