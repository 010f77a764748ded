import Synchronization

/// A `ConnectionGate` shared by the event loops of a listener, behind a `Mutex`.
///
/// Every call holds the lock for one O(1) state update (no allocation once warm, no I/O), so
/// contention stays short even when all loops accept at once.
public final class SharedConnectionGate: Sendable {
    private let state: Mutex<ConnectionGate>

    public init(_ configuration: ConnectionGate.Configuration) {
        self.state = Mutex(ConnectionGate(configuration))
    }

    public func admit(_ address: ClientAddressKey?, now: Nanoseconds = MonotonicClock.now()) -> ConnectionGate.Decision {
        state.withLock { $0.admit(address, now: now) }
    }

    /// See ``ConnectionGate/admitsOnceAHandshakeCloses(_:now:)``.
    public func admitsOnceAHandshakeCloses(_ address: ClientAddressKey?, now: Nanoseconds = MonotonicClock.now()) -> Bool {
        state.withLock { $0.admitsOnceAHandshakeCloses(address, now: now) }
    }

    public func handshakeFinished(_ address: ClientAddressKey?) {
        state.withLock { $0.handshakeFinished(address) }
    }

    public func closed(_ address: ClientAddressKey?, duringHandshake: Bool = false) {
        state.withLock { $0.closed(address, duringHandshake: duringHandshake) }
    }

    /// A consistent copy of the counters, for metrics.
    public struct Snapshot: Sendable, Hashable {
        public var active: Int
        public var handshaking: Int
        public var addresses: Int
        public var rateTableCount: Int
        public var rateTableEvictions: UInt64
        public var rejections: [ConnectionGate.RejectReason: UInt64]
        public var unbalancedCalls: UInt64
    }

    public func snapshot() -> Snapshot {
        state.withLock { gate in
            Snapshot(
                active: gate.active, handshaking: gate.handshaking, addresses: gate.addresses,
                rateTableCount: gate.rateTableCount, rateTableEvictions: gate.rateTableEvictions,
                rejections: gate.rejections, unbalancedCalls: gate.unbalancedCalls)
        }
    }
}
