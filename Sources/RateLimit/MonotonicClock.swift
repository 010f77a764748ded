import Foundation

/// Nanoseconds on the monotonic clock: the time unit of every limiter in this module.
///
/// Limiters take `now` as a parameter instead of reading a clock, so tests drive them with exact
/// values and the boundary (`now == allowAt`) can be checked to the nanosecond. Production code
/// reads `MonotonicClock.now()` once per request and passes it down.
public typealias Nanoseconds = UInt64

public enum MonotonicClock {
    /// Current monotonic time in nanoseconds (CLOCK_MONOTONIC on Linux via Dispatch).
    @inlinable
    public static func now() -> Nanoseconds {
        DispatchTime.now().uptimeNanoseconds
    }
}

extension Nanoseconds {
    /// Rounds a duration up to whole seconds, as `Retry-After` (RFC 9110 §10.2.3) requires:
    /// rounding down would invite the client back before it is allowed.
    @inlinable
    public var wholeSecondsRoundedUp: UInt64 {
        self / 1_000_000_000 + (self % 1_000_000_000 == 0 ? 0 : 1)
    }
}
