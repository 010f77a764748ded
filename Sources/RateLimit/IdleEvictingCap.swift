/// A cap on open connections that makes room by closing the longest-idle keep-alive one.
///
/// A first-come cap alone lets whoever opens `capacity` keep-alive connections, and sends a
/// request on each within the idle deadline, lock every later client out for good (for the
/// ops listener: the liveness probe, and then the pod is restarted). Here a connection waiting
/// between requests holds its place only until someone needs it; a new connection is refused
/// only when every place is taken by one that is opening or serving a request.
///
/// Each connection is `busy` from admission (it has not finished a request yet) until
/// ``markIdle(_:)``, and busy again from ``markBusy(_:)``. The idle ones are kept in the order
/// they became idle (an `LRUTable`, O(1) amortised per change), so the eviction victim is the
/// one that has waited longest. An evicted connection gives its place to the new one at once:
/// its later ``closed(_:)`` releases nothing.
public struct IdleEvictingCap<ID: Hashable> {
    public enum Decision: Equatable {
        case admit
        /// Admitted in the place of this idle connection, which the caller closes.
        case admitEvicting(ID)
        /// Every place is held by a busy connection.
        case reject
    }

    public let capacity: Int
    private var busy: Set<ID> = []
    /// Idle connections, least recently idle first.
    private var idle: LRUTable<ID, Void>

    public init(capacity: Int) {
        precondition(capacity > 0, "IdleEvictingCap capacity must be positive")
        self.capacity = capacity
        idle = LRUTable(capacity: capacity)
    }

    /// Connections holding a place.
    public var count: Int { busy.count + idle.count }
    /// Connections holding a place while waiting between requests.
    public var idleCount: Int { idle.count }
    /// Entries in the idle order, live or stale (tests check the memory bound).
    var queueLength: Int { idle.queueCount }

    /// Decides a new connection `id` (which must not be open); on admission it holds a place
    /// and is busy.
    public mutating func admit(_ id: ID) -> Decision {
        var decision = Decision.admit
        if count >= capacity {
            guard let oldest = idle.leastRecentSlot() else { return .reject }
            decision = .admitEvicting(idle.key(at: oldest))
            idle.remove(oldest)
        }
        busy.insert(id)
        return decision
    }

    /// `id` finished a response and waits for its next request. An already idle connection
    /// keeps its place in the order (it has been waiting since then).
    public mutating func markIdle(_ id: ID) {
        guard busy.remove(id) != nil else { return }
        idle.insert(id, value: ())
    }

    /// `id` started a request: it is no longer a candidate for eviction.
    public mutating func markBusy(_ id: ID) {
        guard let slot = idle.slot(for: id) else { return }
        idle.remove(slot)
        busy.insert(id)
    }

    /// `id` closed; returns whether it still held a place (false once evicted, or if unknown).
    @discardableResult
    public mutating func closed(_ id: ID) -> Bool {
        if busy.remove(id) != nil { return true }
        guard let slot = idle.slot(for: id) else { return false }
        idle.remove(slot)
        return true
    }
}

extension IdleEvictingCap: Sendable where ID: Sendable {}
extension IdleEvictingCap.Decision: Sendable where ID: Sendable {}
