import Synchronization

/// A `KeyedRateLimiter` shared by event loops and tasks, behind a `Mutex`, that also formats
/// the response fields for the decision it takes (in the same critical section, so the
/// `RateLimit` field matches the decision).
public final class SharedKeyedRateLimiter<Key: Hashable & Sendable>: Sendable {
    /// Policy name for the `RateLimit-Policy` field and a metrics label (`limiter`).
    public let name: String
    public let gcra: GCRA
    private let state: Mutex<KeyedRateLimiter<Key>>

    public init(name: String, gcra: GCRA, capacity: Int) {
        self.name = name
        self.gcra = gcra
        self.state = Mutex(KeyedRateLimiter(gcra: gcra, capacity: capacity))
    }

    public struct Outcome: Sendable, Hashable {
        public let decision: GCRA.Decision
        public let headers: RateLimitHeaders
    }

    public func decide(_ key: Key, now: Nanoseconds = MonotonicClock.now(), cost: Int = 1) -> Outcome {
        let (decision, tat) = state.withLock { limiter in
            let decision = limiter.decide(key, now: now, cost: cost)
            return (decision, limiter.theoreticalArrivalTime(of: key))
        }
        return Outcome(
            decision: decision,
            headers: RateLimitHeaders(name: name, gcra: gcra, decision: decision, tat: tat, now: now))
    }

    /// Counters for metrics (`mcp_ratelimit_keys`, `mcp_ratelimit_evictions_total`).
    public struct Snapshot: Sendable, Hashable {
        public var count: Int
        public var capacity: Int
        public var idleEvictions: UInt64
        public var activeEvictions: UInt64
    }

    public func snapshot() -> Snapshot {
        state.withLock {
            Snapshot(count: $0.count, capacity: $0.capacity, idleEvictions: $0.idleEvictions, activeEvictions: $0.activeEvictions)
        }
    }
}

/// A `ConcurrencyLimiter` behind a `Mutex` (sessions, SSE streams, in-flight calls).
public final class SharedConcurrencyLimiter<Key: Hashable & Sendable>: Sendable {
    private let state: Mutex<ConcurrencyLimiter<Key>>

    public init(perKeyMaximum: Int, globalMaximum: Int) {
        state = Mutex(ConcurrencyLimiter(perKeyMaximum: perKeyMaximum, globalMaximum: globalMaximum))
    }

    public func acquire(_ key: Key) -> ConcurrencyLimiter<Key>.Outcome {
        state.withLock { $0.acquire(key) }
    }

    public func release(_ key: Key) {
        state.withLock { $0.release(key) }
    }

    public struct Snapshot: Sendable, Hashable {
        public var total: Int
        public var keys: Int
        public var globalMaximum: Int
        public var rejectedPerKey: UInt64
        public var rejectedGlobal: UInt64
        public var unbalancedReleases: UInt64
    }

    public func snapshot() -> Snapshot {
        state.withLock {
            Snapshot(total: $0.total, keys: $0.keys, globalMaximum: $0.globalMaximum, rejectedPerKey: $0.rejectedPerKey,
                     rejectedGlobal: $0.rejectedGlobal, unbalancedReleases: $0.unbalancedReleases)
        }
    }
}
