/// A cap on open connections that makes room by closing the connection that has waited
/// longest without a request to serve.
///
/// A first-come cap alone lets whoever opens `capacity` connections lock every later client
/// out (for the ops listener: the liveness probe, and then the pod is restarted): by sending
/// a request on each within the idle deadline, or by sending nothing, or a head byte by byte,
/// within the header deadline. Here a connection holds its place firmly only while it serves
/// a request (from the start of the request's task to the end of its response); waiting (just
/// opened, reading a head, between keep-alive requests, or holding a pipelined request until
/// the client reads) it holds it only until someone needs it.
/// A new connection is refused only when every place serves a request.
///
/// Each connection waits from admission until ``markBusy(_:)`` (a request is being served),
/// and again from ``markIdle(_:)`` (its response is written). The waiting ones are
/// kept in the order they started to wait (an `LRUTable`, O(1) amortised per change), so the
/// eviction victim is the one that has waited longest: to shut out a connection that sends its
/// request at once, like a probe, a flood must open `capacity` connections after it and before
/// its request arrives. An evicted connection gives its place to the new one at once: its
/// later ``closed(_:)`` releases nothing.
public struct IdleEvictingCap<ID: Hashable> {
    public enum Decision: Equatable {
        case admit
        /// Admitted in the place of this waiting connection, which the caller closes.
        case admitEvicting(ID)
        /// Every place is held by a connection serving a request.
        case reject
    }

    public let capacity: Int
    /// Connections serving a request.
    private var busy: Set<ID> = []
    /// Waiting connections, the one waiting longest first.
    private var idle: LRUTable<ID, Void>

    public init(capacity: Int) {
        precondition(capacity > 0, "IdleEvictingCap capacity must be positive")
        self.capacity = capacity
        idle = LRUTable(capacity: capacity)
    }

    /// Connections holding a place.
    public var count: Int { busy.count + idle.count }
    /// Connections holding a place while waiting (opened, reading a head, or between requests).
    public var idleCount: Int { idle.count }
    /// Entries in the idle order, live or stale (tests check the memory bound).
    var queueLength: Int { idle.queueCount }

    /// Decides a new connection `id` (which must not be open); on admission it holds a place
    /// and waits, the most recent in the order.
    public mutating func admit(_ id: ID) -> Decision {
        var decision = Decision.admit
        if count >= capacity {
            guard let oldest = idle.leastRecentSlot() else { return .reject }
            decision = .admitEvicting(idle.key(at: oldest))
            idle.remove(oldest)
        }
        idle.insert(id, value: ())
        return decision
    }

    /// `id` finished a response and waits for its next request. An already waiting
    /// connection keeps its place in the order (it has been waiting since then).
    public mutating func markIdle(_ id: ID) {
        guard busy.remove(id) != nil else { return }
        idle.insert(id, value: ())
    }

    /// `id` serves a request: it is no longer a candidate for eviction.
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
