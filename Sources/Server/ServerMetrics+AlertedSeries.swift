import Auth
import RateLimit

extension ServerMetrics {
    /// Creates at 0 the counters that deploy/README.md alerts on with `increase` or `rate`
    /// and that only count rare events. A series that first appears at 1 has no earlier
    /// sample, so Prometheus sees no increase in it: a single failed reload, lockout or slow
    /// reader raised no alert.
    public func createAlertedSeries() {
        for what in ["certificate", "tokens"] {
            for result in ["ok", "error"] { _ = counter(.configReloads, what, result) }
        }
        for failure in AuthFailure.allCases { _ = counter(.authFailures, failure.reason) }
        _ = counter(.authFailures, "locked_out")
        for reason in ConnectionGate.RejectReason.allCases { _ = counter(.connectionsRejected, reason.rawValue) }
        // A peer gone before its address could be read (a reset right after accept).
        _ = counter(.connectionsRejected, "no_address")
        _ = counter(.rateLimitEvictions, "auth_failures")
        _ = counter(.authLockouts)
        _ = counter(.authLockoutsEvicted)
        _ = counter(.sseSlowReaders)
    }
}
