import NIOConcurrencyHelpers
import NIOCore
import Prometheus
import RateLimit
import Synchronization

/// `limits.max_unsent_bytes`: the answer bytes all public connections have handed down and the
/// kernel has not yet taken, against one budget shared by every event loop. Past it, the
/// connections that have gone longest without taking any of theirs are closed
/// (``UnsentBytesBudget``), counted in `mcp_connections_evicted_total{reason="unsent_bytes"}`.
///
/// Only writes larger than ``HTTPTypesCodec/coalesceLimit`` are counted: they carry a promise
/// to learn when they are out. Smaller ones need none (an allocation per response saved), and
/// are bounded per connection by the writability the layers above wait for.
public final class UnsentBudget: Sendable {
    private struct State {
        var budget: UnsentBytesBudget<ObjectIdentifier>
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    private let state: Mutex<State>
    private let evicted: Counter?
    private let held: Gauge?

    public init(capacity: Int, metrics: ServerMetrics?) {
        state = Mutex(State(budget: UnsentBytesBudget(capacity: capacity)))
        evicted = metrics?.counter(.connectionsEvicted, "unsent_bytes")
        held = metrics?.gauge(.unsentBytes)
        metrics?.gauge(.unsentBytesMax).set(to: Double(capacity))
        if let metrics {
            metrics.beforeRender { [self] in held?.set(to: Double(total)) }
        }
    }

    /// The bytes counted now, the ones of connections chosen to close included until they have.
    public var total: Int { state.withLock { $0.budget.total } }

    /// A connection's count changed; closes, on their own loops, the connections that must go.
    fileprivate func set(_ account: ObjectIdentifier, channel: any Channel, to bytes: Int) {
        let victims = state.withLock { state -> [any Channel] in
            if bytes == 0 {
                state.channels[account] = nil
            } else if state.channels[account] == nil {
                state.channels[account] = channel
            }
            return state.budget.set(account, to: bytes).compactMap { state.channels[$0] }
        }
        for victim in victims {
            evicted?.increment()
            // Never from inside the write that found the budget passed (it may be the
            // victim's own): the close runs on its loop once that write has returned.
            victim.eventLoop.execute { victim.close(promise: nil) }
        }
    }

    /// The account of one connection's unsent bytes, kept by its codec on its event loop.
    func account(for channel: any Channel) -> UnsentAccount {
        UnsentAccount(budget: self, channel: channel)
    }
}

/// One connection's bytes handed down and not yet written, told to the shared budget on every
/// change. Every counted write carries a promise, and NIO completes (or fails, at the close)
/// each one, so the count returns to 0 by the time the connection is gone.
final class UnsentAccount {
    private let budget: UnsentBudget
    private let channel: any Channel
    private(set) var bytes = 0

    fileprivate init(budget: UnsentBudget, channel: any Channel) {
        self.budget = budget
        self.channel = channel
    }

    func handed(_ count: Int) {
        bytes += count
        budget.set(ObjectIdentifier(self), channel: channel, to: bytes)
    }

    func taken(_ count: Int) {
        bytes -= count
        budget.set(ObjectIdentifier(self), channel: channel, to: bytes)
    }

    deinit {
        if bytes > 0 { budget.set(ObjectIdentifier(self), channel: channel, to: 0) }
    }
}
