/// The Generic Cell Rate Algorithm: a rate limit that stores one timestamp per key.
///
/// The state is the *theoretical arrival time* (TAT): when the key's bucket would be empty again
/// if nothing else arrived. With
/// - emission interval `T = 1 / rate` (nanoseconds between requests at the sustained rate),
/// - tolerance `τ = T · (burst − 1)` (how far ahead of the schedule a client may run),
///
/// a request of cost `n` arriving at `now` computes `newTAT = max(TAT, now) + n·T` and conforms
/// iff `newTAT − (τ + T) ≤ now`, i.e. `now ≥ allowAt` with `allowAt = newTAT − τ − T`.
/// - allowed: `TAT ← newTAT`; the requests still allowed right now are `⌊(now + τ + T − newTAT) / T⌋`.
/// - denied: `TAT` is unchanged (a denied request costs nothing); retry after `allowAt − now`.
///
/// A fresh key (`TAT = 0`, or any `TAT ≤ now`) therefore admits exactly `burst` requests at one
/// instant, then one every `T`. All arithmetic is integer nanoseconds, so the boundary is exact:
/// at `now == allowAt` the request is allowed, one nanosecond earlier it is denied.
public struct GCRA: Sendable, Hashable {
    /// `T`, nanoseconds between requests at the sustained rate.
    public let emissionInterval: Nanoseconds
    /// Requests admitted at once by a drained key.
    public let burst: Int

    /// `τ = T · (burst − 1)`.
    public var tolerance: Nanoseconds { emissionInterval * Nanoseconds(burst - 1) }

    /// How long a key stays non-drained at most after an allowed request: `τ + T`.
    public var window: Nanoseconds { tolerance + emissionInterval }

    /// - Parameters:
    ///   - emissionInterval: nanoseconds per request, at least 1.
    ///   - burst: at least 1; `emissionInterval · burst` must fit in 63 bits.
    public init?(emissionInterval: Nanoseconds, burst: Int) {
        guard emissionInterval > 0, burst >= 1 else { return nil }
        let (product, overflow) = emissionInterval.multipliedReportingOverflow(by: Nanoseconds(burst))
        guard !overflow, product <= Nanoseconds(Int64.max) else { return nil }
        self.emissionInterval = emissionInterval
        self.burst = burst
    }

    /// - Parameters:
    ///   - ratePerSecond: sustained rate; `T` is `1e9 / rate` rounded to the nearest nanosecond.
    ///   - burst: requests admitted at once.
    public init?(ratePerSecond: Double, burst: Int) {
        guard ratePerSecond.isFinite, ratePerSecond > 0, ratePerSecond <= 1e9 else { return nil }
        self.init(emissionInterval: Nanoseconds((1e9 / ratePerSecond).rounded()), burst: burst)
    }

    public enum Decision: Sendable, Hashable {
        /// Conforming; `remaining` more requests of cost 1 would conform at the same instant.
        case allow(remaining: Int)
        /// Not conforming; the same request conforms after `retryAfter` nanoseconds.
        case deny(retryAfter: Nanoseconds)

        public var isAllowed: Bool {
            if case .allow = self { return true }
            return false
        }
    }

    /// Decides one request and updates `tat` if it is allowed.
    ///
    /// - Parameters:
    ///   - tat: the key's theoretical arrival time; `0` for a key never seen.
    ///   - now: current monotonic time in nanoseconds.
    ///   - cost: the request's weight, `1...burst` (a larger cost could never conform).
    @inlinable
    public func decide(tat: inout Nanoseconds, now: Nanoseconds, cost: Int = 1) -> Decision {
        precondition(cost >= 1 && cost <= burst, "GCRA cost must be in 1...burst")
        let newTAT = Swift.max(tat, now) + emissionInterval * Nanoseconds(cost)
        let limit = now + window  // newTAT ≤ now + τ + T  ⇔  allowAt ≤ now
        if newTAT <= limit {
            tat = newTAT
            return .allow(remaining: Int((limit - newTAT) / emissionInterval))
        }
        return .deny(retryAfter: newTAT - limit)
    }

    /// The TAT after `cost` more requests charged with no decision (any `cost`: the schedule
    /// runs ahead, and the next decisions refuse until it is caught up).
    @inlinable
    public func charged(tat: Nanoseconds, now: Nanoseconds, cost: Int) -> Nanoseconds {
        // Kept where a later decision's own addition (at most `window`) cannot overflow.
        let ceiling = Nanoseconds.max - window
        let (added, overflow) = emissionInterval.multipliedReportingOverflow(by: Nanoseconds(Swift.max(0, cost)))
        let start = Swift.max(tat, now)
        guard !overflow, start <= ceiling, added <= ceiling - start else { return ceiling }
        return start + added
    }

    /// Nanoseconds until a key with this `tat` is fully drained (for the `RateLimit` header's `t`).
    @inlinable
    public func resetAfter(tat: Nanoseconds, now: Nanoseconds) -> Nanoseconds {
        tat > now ? tat - now : 0
    }
}
