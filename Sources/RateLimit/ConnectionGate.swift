/// Accept-time decisions for a listener, taken before any TLS work (`SSL_new`).
///
/// Checks run most specific first, and only an admitted connection takes rate tokens:
/// 1. `per_ip_cap`        — this address's open connections ≥ `maxPerAddress`
/// 2. `handshakes_per_ip` — this address's TLS handshakes in progress ≥ `maxHandshakesPerAddress`
/// 3. `handshakes`        — TLS handshakes in progress ≥ `maxHandshakes`
/// 4. `rate_ip`           — this address opens connections faster than its GCRA allows
/// 5. `rate_global`       — all addresses together open connections faster than the global GCRA
/// 6. `global_cap`        — connections open ≥ `maxConnections`
///
/// The per-address handshake cap keeps one address that holds silent connections (each
/// re-opened every handshake deadline, under the connection rate) from filling `maxHandshakes`;
/// against a few such addresses the caller makes room at `maxHandshakes` by closing a
/// handshake of the address holding the most (the server's `GateAdmission`).
/// The per-address rate is checked before the global one so that a single flooding address is
/// refused on its own limit and cannot use up the global rate for everyone else. The global
/// cap comes last because the caller may answer it by closing another client's idle
/// connection to make room: that must only happen for a connection that would otherwise be
/// admitted, or one address at its own limits could close every idle connection in turn.
///
/// A peer the operator vouches for (a trusted proxy, which speaks for many clients) is admitted
/// with no address (`nil`): it is held only to the global checks (3, 5 and 6), and its
/// connections count towards no address.
///
/// Lifecycle the caller must follow for each admitted connection: `handshakeFinished(_:)`
/// exactly once when the handshake ends (success, failure or timeout), then `closed(_:)` exactly
/// once. A connection that closes during its handshake calls `closed(_:duringHandshake: true)`
/// instead of both.
public struct ConnectionGate {
    public struct Configuration: Sendable, Hashable {
        public var maxConnections: Int
        public var maxPerAddress: Int
        public var maxHandshakes: Int
        /// Handshakes in progress per address.
        public var maxHandshakesPerAddress: Int
        /// New connections per address; nil disables the check.
        public var perAddressRate: GCRA?
        /// New connections from all addresses together; nil disables the check.
        public var globalRate: GCRA?
        /// Addresses remembered for `perAddressRate`.
        public var rateTableCapacity: Int

        public init(
            maxConnections: Int, maxPerAddress: Int, maxHandshakes: Int, maxHandshakesPerAddress: Int,
            perAddressRate: GCRA?, globalRate: GCRA?, rateTableCapacity: Int
        ) {
            self.maxConnections = maxConnections
            self.maxPerAddress = maxPerAddress
            self.maxHandshakes = maxHandshakes
            self.maxHandshakesPerAddress = maxHandshakesPerAddress
            self.perAddressRate = perAddressRate
            self.globalRate = globalRate
            self.rateTableCapacity = rateTableCapacity
        }
    }

    public enum RejectReason: String, Sendable, Hashable, CaseIterable {
        case globalCap = "global_cap"
        case handshakes = "handshakes"
        case perAddressCap = "per_ip_cap"
        case handshakesPerAddress = "handshakes_per_ip"
        case rateAddress = "rate_ip"
        case rateGlobal = "rate_global"
    }

    public enum Decision: Sendable, Hashable {
        case admit
        case reject(RejectReason)
    }

    public let configuration: Configuration
    /// What one address holds; an address holding nothing is removed.
    private struct Held: Sendable {
        var connections = 0
        var handshakes = 0

        mutating func admitted() {
            connections += 1
            handshakes += 1
        }
    }

    private var perAddress: [ClientAddressKey: Held] = [:]
    /// What the peers admitted without an address hold, together.
    private var exempt = Held()
    private var rates: KeyedRateLimiter<ClientAddressKey>?
    private var globalTAT: Nanoseconds = 0

    /// Connections open now (`mcp_connections_active`).
    public private(set) var active = 0
    /// Handshakes in progress now.
    public private(set) var handshaking = 0
    /// Rejections so far by reason (`mcp_connections_rejected_total{reason}`).
    public private(set) var rejections: [RejectReason: UInt64] = [:]
    /// Calls that did not match an admitted connection (wiring bugs; ignored but counted).
    public private(set) var unbalancedCalls: UInt64 = 0

    public init(_ configuration: Configuration) {
        precondition(configuration.maxConnections > 0 && configuration.maxPerAddress > 0
            && configuration.maxHandshakes > 0 && configuration.maxHandshakesPerAddress > 0,
            "ConnectionGate caps must be positive")
        self.configuration = configuration
        if let rate = configuration.perAddressRate {
            self.rates = KeyedRateLimiter(gcra: rate, capacity: max(1, configuration.rateTableCapacity))
        }
    }

    /// Addresses with at least one open connection.
    public var addresses: Int { perAddress.count }
    /// Addresses in the per-address rate table, and evictions from it.
    public var rateTableCount: Int { rates?.count ?? 0 }
    public var rateTableEvictions: UInt64 { rates?.evictions ?? 0 }

    /// Open connections from `address`.
    public func connections(from address: ClientAddressKey) -> Int { perAddress[address]?.connections ?? 0 }
    /// Handshakes in progress from `address`.
    public func handshakes(from address: ClientAddressKey) -> Int { perAddress[address]?.handshakes ?? 0 }

    /// What `address` holds (nil: the exempt peers); storing an entry without connections
    /// removes it.
    private subscript(held address: ClientAddressKey?) -> Held {
        get {
            guard let address else { return exempt }
            return perAddress[address] ?? Held()
        }
        set {
            if let address {
                perAddress[address] = newValue.connections > 0 ? newValue : nil
            } else {
                exempt = newValue
            }
        }
    }

    /// Decides a newly accepted connection; on `.admit` it counts as open and handshaking.
    /// - Parameter address: the peer's key, or nil for a peer exempt from the per-address checks.
    public mutating func admit(_ address: ClientAddressKey?, now: Nanoseconds) -> Decision {
        if let reason = refusal(address, now: now) {
            rejections[reason, default: 0] += 1
            return .reject(reason)
        }
        // Admitted: only now are the rate tokens taken, so a refused connection costs none.
        if let global = configuration.globalRate { _ = global.decide(tat: &globalTAT, now: now) }
        if let address { _ = rates?.decide(address, now: now) }
        active += 1
        handshaking += 1
        self[held: address].admitted()
        return .admit
    }

    /// Whether `address`, refused at `maxHandshakes`, would be admitted once another
    /// connection in its handshake closed (which also frees a place under `maxConnections`):
    /// the caller makes room that way only for a client every other check lets in, or a
    /// client over its own rate could close other clients' handshakes one by one.
    public func admitsOnceAHandshakeCloses(_ address: ClientAddressKey?, now: Nanoseconds) -> Bool {
        let reason = refusal(address, now: now, handshakeCap: false)
        return reason == nil || reason == .globalCap
    }

    /// Why `address` would be refused now, if it would; changes nothing.
    private func refusal(_ address: ClientAddressKey?, now: Nanoseconds, handshakeCap: Bool = true) -> RejectReason? {
        if let address {
            let held = self[held: address]
            if held.connections >= configuration.maxPerAddress { return .perAddressCap }
            if held.handshakes >= configuration.maxHandshakesPerAddress { return .handshakesPerAddress }
        }
        if handshakeCap, handshaking >= configuration.maxHandshakes { return .handshakes }
        if let address, let rates, !rates.wouldAllow(address, now: now) { return .rateAddress }
        if let global = configuration.globalRate {
            var tat = globalTAT
            if !global.decide(tat: &tat, now: now).isAllowed { return .rateGlobal }
        }
        if active >= configuration.maxConnections { return .globalCap }
        return nil
    }

    /// The handshake of an admitted connection ended (successfully or not).
    public mutating func handshakeFinished(_ address: ClientAddressKey?) {
        var held = self[held: address]
        guard handshaking > 0, held.handshakes > 0 else {
            unbalancedCalls += 1
            return
        }
        held.handshakes -= 1
        self[held: address] = held
        handshaking -= 1
    }

    /// An admitted connection closed. Pass `duringHandshake: true` if `handshakeFinished` was
    /// not called for it.
    public mutating func closed(_ address: ClientAddressKey?, duringHandshake: Bool = false) {
        if duringHandshake { handshakeFinished(address) }
        var held = self[held: address]
        guard held.connections > 0, active > 0 else {
            unbalancedCalls += 1
            return
        }
        held.connections -= 1
        self[held: address] = held
        active -= 1
    }
}
extension ConnectionGate: Sendable {}
