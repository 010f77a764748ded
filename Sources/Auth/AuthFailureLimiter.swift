/// Slows down password-guessing: too many failed authentications from one client address lock
/// that address out for a while (HTTP 429), so brute force is slow and cheap to refuse.
///
/// Rule: `maxFailures` failures within `window` nanoseconds of the first one lock the key out for
/// `lockout` nanoseconds. The window restarts at the first failure after it has elapsed, and a
/// lockout starts a fresh count when it ends. Check `check(_:now:)` *before* verifying a token, so
/// a locked-out client does not even cost a hash.
///
/// Memory is bounded by `capacity`: a new key at a full table evicts the least recently used one
/// that is not locked out (counted in `evictions`), looking at most `evictionProbes` keys from
/// the old end. A lockout found there is moved to the recent end instead, so one failure each
/// from `capacity` other addresses no longer flushes it: only a table whose old end is all
/// lockouts gives one up, which takes `maxFailures` failures per address, and
/// `lockoutEvictions` counts it.
///
/// Times are monotonic nanoseconds (the same unit as the RateLimit module's `Nanoseconds`).
/// Not thread-safe: wrap it in a `Mutex` to share it.
public struct AuthFailureLimiter<Key: Hashable> {
    public struct Configuration: Sendable, Hashable {
        public var maxFailures: Int
        public var window: UInt64
        public var lockout: UInt64
        public var capacity: Int

        public init(maxFailures: Int, window: UInt64, lockout: UInt64, capacity: Int) {
            self.maxFailures = maxFailures
            self.window = window
            self.lockout = lockout
            self.capacity = capacity
        }
    }

    public enum Status: Sendable, Hashable {
        case allowed
        /// Refuse without verifying; the lockout ends after `retryAfter` nanoseconds.
        case lockedOut(retryAfter: UInt64)
    }

    @usableFromInline
    struct Entry: Sendable {
        @usableFromInline var windowStart: UInt64
        @usableFromInline var failures: Int
        @usableFromInline var lockedUntil: UInt64

        @inlinable
        init(windowStart: UInt64, failures: Int, lockedUntil: UInt64) {
            self.windowStart = windowStart
            self.failures = failures
            self.lockedUntil = lockedUntil
        }
    }

    public let configuration: Configuration
    @usableFromInline var table: LRUTable<Key, Entry>
    @usableFromInline var lockoutCount: UInt64 = 0
    @usableFromInline var evictionCount: UInt64 = 0
    /// Lockouts started so far (`mcp_auth_lockouts_total`).
    public var lockouts: UInt64 { lockoutCount }
    @usableFromInline var lockoutEvictionCount: UInt64 = 0
    /// Keys evicted to make room.
    public var evictions: UInt64 { evictionCount }
    /// Of those, keys evicted while locked out: the table's old end held nothing else.
    public var lockoutEvictions: UInt64 { lockoutEvictionCount }
    /// Keys looked at from the old end for one to evict that is not locked out.
    @usableFromInline static var evictionProbes: Int { 8 }

    public init(_ configuration: Configuration) {
        precondition(configuration.maxFailures >= 1 && configuration.capacity >= 1,
                     "AuthFailureLimiter needs maxFailures ≥ 1 and capacity ≥ 1")
        self.configuration = configuration
        self.table = LRUTable(capacity: configuration.capacity)
    }

    /// Keys tracked now (a gauge).
    public var count: Int { table.count }

    /// Whether `key` may try to authenticate at `now`.
    @inlinable
    public mutating func check(_ key: Key, now: UInt64) -> Status {
        guard let slot = table.slot(for: key) else { return .allowed }
        table.touch(slot)
        let lockedUntil = table[slot].lockedUntil
        return lockedUntil > now ? .lockedOut(retryAfter: lockedUntil - now) : .allowed
    }

    /// Records a failed authentication; returns true when this failure started a lockout.
    @inlinable
    @discardableResult
    public mutating func recordFailure(_ key: Key, now: UInt64) -> Bool {
        let slot: Int
        if let existing = table.slot(for: key) {
            slot = existing
            table.touch(slot)
        } else {
            if table.isFull { evictOne(now: now) }
            slot = table.insert(key, value: Entry(windowStart: now, failures: 0, lockedUntil: 0))
        }
        var entry = table[slot]
        defer { table[slot] = entry }
        if entry.lockedUntil > now { return false }
        // Requests on other threads may record their `now` out of order: an earlier time is
        // inside the window, not an elapsed one that wraps around and restarts it.
        let elapsed = now >= entry.windowStart ? now - entry.windowStart : 0
        if entry.failures == 0 || elapsed >= configuration.window {
            entry.windowStart = now
            entry.failures = 0
        }
        entry.failures += 1
        guard entry.failures >= configuration.maxFailures else { return false }
        entry.lockedUntil = now + configuration.lockout
        entry.failures = 0
        lockoutCount += 1
        return true
    }

    @inlinable
    mutating func evictOne(now: UInt64) {
        for _ in 0..<Self.evictionProbes {
            guard let oldest = table.leastRecentSlot else { return }
            if table[oldest].lockedUntil <= now {
                table.remove(oldest)
                evictionCount += 1
                return
            }
            table.touch(oldest)
        }
        // The probes found lockouts only; the one now oldest is dropped, and counted as a
        // lockout only if it is one (the probes moved past it without looking).
        guard let oldest = table.leastRecentSlot else { return }
        if table[oldest].lockedUntil > now { lockoutEvictionCount += 1 }
        table.remove(oldest)
        evictionCount += 1
    }

    /// Forgets `key` (e.g. an operator unlocks it).
    public mutating func reset(_ key: Key) {
        if let slot = table.slot(for: key) { table.remove(slot) }
    }
}

extension AuthFailureLimiter: Sendable where Key: Sendable {}
