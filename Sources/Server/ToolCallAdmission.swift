import Foundation
import MCPCore
import Prometheus
import RateLimit
import Synchronization

/// The server's tool-call policy: at most `maxInFlightPerToken` calls running per token
/// (and `globalMaximum` in all: `limits.max_inflight`), and optionally a per-token, per-tool
/// GCRA rate.
public final class ToolCallAdmission: CallAdmission {
    private let inFlight: Mutex<ConcurrencyLimiter<String>>
    private let toolRate: SharedRateLimiter?
    private let metrics: ServerMetrics?
    private let running: Gauge?

    public init(maxInFlightPerToken: Int, globalMaximum: Int, toolRate: SharedRateLimiter?, metrics: ServerMetrics?) {
        inFlight = Mutex(ConcurrencyLimiter(perKeyMaximum: max(1, maxInFlightPerToken), globalMaximum: max(1, globalMaximum)))
        self.toolRate = toolRate
        self.metrics = metrics
        running = metrics?.gauge(.inflightCalls)
        metrics?.gauge(.inflightCallsMax).set(to: Double(max(1, globalMaximum)))
    }

    public func release(caller: String?) {
        inFlight.withLock { limiter in
            limiter.release(caller ?? "anonymous")
            running?.set(to: Double(limiter.total))
        }
    }

    public func admit(caller: String?, tool: String) -> CallAdmissionDecision {
        let key = caller ?? "anonymous"
        // The gauge is set under the lock: set after it, two calls ending at once on two
        // threads could leave the older count showing.
        let outcome = inFlight.withLock { limiter in
            let outcome = limiter.acquire(key)
            running?.set(to: Double(limiter.total))
            return outcome
        }
        if case .rejected(let rejection) = outcome {
            metrics?.counter(.inflightRejected, rejection.rawValue).increment()
            return rejection == .global
                ? .refused(message: "Server busy: too many tool calls in flight; retry later", httpStatus: 503, retryAfterSeconds: 2)
                : .refused(message: "Too many tool calls in flight for this token", httpStatus: 429, retryAfterSeconds: 1)
        }
        // The rate is charged only for a call that will run: charged first, a token at its
        // in-flight cap spent its rate on calls refused there, then got 429s for its next ones.
        if let toolRate, case .deny(let retryAfter) = toolRate.decide("\(key)\u{1F}\(tool)") {
            release(caller: caller)
            let seconds = max(1, Int((retryAfter + 999_999_999) / 1_000_000_000))
            return .refused(message: "Rate limit for \(tool) exceeded; retry after \(seconds) s", httpStatus: 429, retryAfterSeconds: seconds)
        }
        return .admitted
    }
}
