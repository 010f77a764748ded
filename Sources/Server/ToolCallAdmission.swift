import Foundation
import MCPCore
import Prometheus
import RateLimit
import Synchronization

/// The server's tool-call policy: at most `maxInFlightPerToken` calls running per token
/// (and `globalMaximum` in all: `limits.max_inflight`), their requests holding at most
/// `maxRequestBytes` together (`limits.max_inflight_request_bytes`), and optionally a
/// per-token, per-tool GCRA rate.
///
/// A call's request stays in memory for as long as the call runs (its arguments are the
/// call's, and its `_meta` is read for progress), and the counts alone let 1,024 calls with
/// 4 MiB bodies hold 4.5 GiB: the bytes are a budget of their own. A call that does not fit
/// is refused like one past the global cap (503, retry later), not queued. One call fits when
/// none holds anything, whatever its size, so a request larger than the whole budget is not
/// refused for good; under steady traffic it may wait long for that, which `check-config`
/// warns about (a budget under four times `server.max_body`).
public final class ToolCallAdmission: CallAdmission {
    private struct State {
        var inFlight: ConcurrencyLimiter<String>
        var heldBytes = 0
    }

    private let state: Mutex<State>
    private let maxRequestBytes: Int
    private let toolRate: SharedRateLimiter?
    private let metrics: ServerMetrics?
    private let running: Gauge?
    private let held: Gauge?

    public init(maxInFlightPerToken: Int, globalMaximum: Int, maxRequestBytes: Int = .max, toolRate: SharedRateLimiter?, metrics: ServerMetrics?) {
        state = Mutex(State(inFlight: ConcurrencyLimiter(perKeyMaximum: max(1, maxInFlightPerToken), globalMaximum: max(1, globalMaximum))))
        self.maxRequestBytes = maxRequestBytes
        self.toolRate = toolRate
        self.metrics = metrics
        running = metrics?.gauge(.inflightCalls)
        held = metrics?.gauge(.inflightRequestBytes)
        metrics?.gauge(.inflightCallsMax).set(to: Double(max(1, globalMaximum)))
        if maxRequestBytes < .max { metrics?.gauge(.inflightRequestBytesMax).set(to: Double(maxRequestBytes)) }
    }

    public func release(caller: String?, requestBytes: Int) {
        state.withLock { state in
            state.inFlight.release(caller ?? "anonymous")
            state.heldBytes -= requestBytes
            publish(state)
        }
    }

    /// The gauges are set under the lock: set after it, two calls ending at once on two
    /// threads could leave the older count showing.
    private func publish(_ state: State) {
        running?.set(to: Double(state.inFlight.total))
        held?.set(to: Double(state.heldBytes))
    }

    public func admit(caller: String?, tool: String, requestBytes: Int) -> CallAdmissionDecision {
        let key = caller ?? "anonymous"
        let outcome = state.withLock { state -> ConcurrencyLimiter<String>.Outcome? in
            let outcome = state.inFlight.acquire(key)
            guard case .acquired = outcome else { return outcome }
            guard state.heldBytes == 0 || state.heldBytes + requestBytes <= maxRequestBytes else {
                state.inFlight.release(key)
                return nil
            }
            state.heldBytes += requestBytes
            publish(state)
            return outcome
        }
        guard let outcome else {
            metrics?.counter(.inflightRejected, "request_bytes").increment()
            return .refused(message: "Server busy: the tool calls in flight hold too much request data; retry later", httpStatus: 503, retryAfterSeconds: 2)
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
            release(caller: caller, requestBytes: requestBytes)
            let seconds = max(1, Int((retryAfter + 999_999_999) / 1_000_000_000))
            return .refused(message: "Rate limit for \(tool) exceeded; retry after \(seconds) s", httpStatus: 429, retryAfterSeconds: seconds)
        }
        return .admitted
    }
}
