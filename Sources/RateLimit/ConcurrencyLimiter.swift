/// Caps on things held open at once (sessions, SSE streams, in-flight tool calls), per key
/// (token name, client address) and in total.
///
/// Memory is bounded: a key is stored only while it holds at least one unit, and at most
/// `globalMaximum` units are held, so the table has at most `globalMaximum` entries.
/// Not thread-safe: wrap it in a `Mutex` to share it.
public struct ConcurrencyLimiter<Key: Hashable> {
    public let perKeyMaximum: Int
    public let globalMaximum: Int
    @usableFromInline var held: [Key: Int] = [:]
    @usableFromInline var heldTotal = 0
    @usableFromInline var rejectedPerKeyCount: UInt64 = 0
    @usableFromInline var rejectedGlobalCount: UInt64 = 0
    @usableFromInline var unbalancedReleaseCount: UInt64 = 0
    /// Units held in total (for an `..._active` gauge).
    public var total: Int { heldTotal }
    public var rejectedPerKey: UInt64 { rejectedPerKeyCount }
    public var rejectedGlobal: UInt64 { rejectedGlobalCount }
    /// `release` calls for a key holding nothing (a wiring bug; ignored but counted).
    public var unbalancedReleases: UInt64 { unbalancedReleaseCount }

    public enum Rejection: String, Sendable, Hashable {
        /// This key holds its maximum: the client's own doing (HTTP 429).
        case perKey = "per_key"
        /// The server holds its maximum: overload (HTTP 503).
        case global
    }

    public enum Outcome: Sendable, Hashable {
        case acquired
        case rejected(Rejection)
    }

    public init(perKeyMaximum: Int, globalMaximum: Int) {
        precondition(perKeyMaximum > 0 && globalMaximum > 0, "ConcurrencyLimiter maxima must be positive")
        self.perKeyMaximum = perKeyMaximum
        self.globalMaximum = globalMaximum
    }

    /// Units `key` holds now.
    public func count(for key: Key) -> Int { held[key] ?? 0 }
    /// Keys holding at least one unit.
    public var keys: Int { held.count }

    /// Takes one unit for `key`. The per-key cap is checked first, so a client at its own cap is
    /// told so (429) even when the server is also full.
    @inlinable
    public mutating func acquire(_ key: Key) -> Outcome {
        let current = held[key] ?? 0
        if current >= perKeyMaximum {
            rejectedPerKeyCount += 1
            return .rejected(.perKey)
        }
        if heldTotal >= globalMaximum {
            rejectedGlobalCount += 1
            return .rejected(.global)
        }
        held[key] = current + 1
        heldTotal += 1
        return .acquired
    }

    /// Returns one unit taken by a successful `acquire(key)`.
    @inlinable
    public mutating func release(_ key: Key) {
        guard let current = held[key] else {
            unbalancedReleaseCount += 1
            return
        }
        if current <= 1 {
            held.removeValue(forKey: key)
        } else {
            held[key] = current - 1
        }
        heldTotal -= 1
    }
}

extension ConcurrencyLimiter: Sendable where Key: Sendable {}
