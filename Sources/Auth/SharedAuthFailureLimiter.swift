import Synchronization

/// An `AuthFailureLimiter` behind a `Mutex`, for use from every event loop.
public final class SharedAuthFailureLimiter<Key: Hashable & Sendable>: Sendable {
    private let state: Mutex<AuthFailureLimiter<Key>>

    public init(_ configuration: AuthFailureLimiter<Key>.Configuration) {
        state = Mutex(AuthFailureLimiter(configuration))
    }

    public func check(_ key: Key, now: UInt64) -> AuthFailureLimiter<Key>.Status {
        state.withLock { $0.check(key, now: now) }
    }

    @discardableResult
    public func recordFailure(_ key: Key, now: UInt64) -> Bool {
        state.withLock { $0.recordFailure(key, now: now) }
    }

    public struct Snapshot: Sendable, Hashable {
        public var count: Int
        public var lockouts: UInt64
        public var evictions: UInt64
    }

    public func snapshot() -> Snapshot {
        state.withLock { Snapshot(count: $0.count, lockouts: $0.lockouts, evictions: $0.evictions) }
    }
}
