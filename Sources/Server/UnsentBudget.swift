import NIOCore
import Prometheus
import RateLimit
import Synchronization

/// `limits.max_unsent_bytes`: the answer bytes all public connections have handed down and
/// whose writes have not completed, against one budget shared by every event loop. Past it,
/// the connections that have gone longest without the kernel taking any of theirs are closed
/// (``UnsentBytesBudget``), counted in `mcp_connections_evicted_total{reason="unsent_bytes"}`.
///
/// Only writes larger than ``HTTPTypesCodec/coalesceLimit`` are counted: they carry a promise
/// to learn when they are out. Smaller ones are not (no promise of their own for most
/// answers), and are bounded per connection by the writability the layers above wait for.
public final class UnsentBudget: Sendable {
    private struct State {
        var budget: UnsentBytesBudget<ObjectIdentifier>
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    private let state: Mutex<State>
    private let evicted: Counter?
    /// How often a connection holding counted bytes looks whether the kernel took any
    /// (an answer is one write: its count only falls when all of it is out).
    let progressInterval: TimeAmount

    public init(capacity: Int, metrics: ServerMetrics?, progressInterval: TimeAmount = .seconds(1)) {
        state = Mutex(State(budget: UnsentBytesBudget(capacity: capacity)))
        self.progressInterval = progressInterval
        evicted = metrics?.counter(.connectionsEvicted, "unsent_bytes")
        metrics?.gauge(.unsentBytesMax).set(to: Double(capacity))
        if let held = metrics?.gauge(.unsentBytes) {
            metrics?.beforeRender { [self] in held.set(to: Double(total)) }
        }
    }

    /// The bytes counted now, the ones of connections chosen to close included until they have.
    public var total: Int { state.withLock { $0.budget.total } }

    /// A connection's count changed; closes, on their own loops, the connections that must go.
    fileprivate func set(_ account: ObjectIdentifier, channel: any Channel, to bytes: Int) {
        let victims = state.withLock { state -> [(ObjectIdentifier, any Channel)] in
            if bytes == 0 {
                state.channels[account] = nil
            } else if state.channels[account] == nil {
                state.channels[account] = channel
            }
            return state.budget.set(account, to: bytes).compactMap { id in state.channels[id].map { (id, $0) } }
        }
        for (id, victim) in victims {
            // Never from inside the write that found the budget passed (it may be the
            // victim's own): on its loop once that write has returned, and only if it still
            // holds what it was chosen for and the budget still needs it gone (a write that
            // completed meanwhile, its own or the one that passed the budget, made room).
            victim.eventLoop.execute { [self] in
                guard state.withLock({ $0.budget.stillNeeded(id) }) else { return }
                evicted?.increment()
                victim.close(promise: nil)
            }
        }
    }

    fileprivate func progressed(_ account: ObjectIdentifier) {
        state.withLock { $0.budget.progressed(account) }
    }

    /// The account of one connection's unsent bytes, kept by its codec on its event loop.
    /// `pendingBytes` reads what NIO still holds for the socket (tests inject it).
    func account(for channel: any Channel, pendingBytes: @escaping (any Channel) -> Int = RequestDeadlines.bufferedBytes) -> UnsentAccount {
        UnsentAccount(budget: self, channel: channel, pendingBytes: pendingBytes)
    }
}

/// One connection's bytes handed down and not yet written, told to the shared budget on every
/// change. Every counted write carries a promise, and NIO completes (or fails, at the close)
/// each one, so the count returns to 0 by the time the connection is gone.
///
/// An answer is one write, so its count falls only once all of it is out. While it holds
/// bytes the account looks once every ``UnsentBudget/progressInterval`` at NIO's buffered bytes:
/// when they rose by less than it handed down since the last look, the kernel took some, and
/// the budget hears of the progress. The first look after an answer starts only takes the
/// measure: at its first flush the kernel takes a socket buffer's worth even from a client
/// that never reads, which is no progress of the client's.
final class UnsentAccount {
    private let budget: UnsentBudget
    private let channel: any Channel
    private let pendingBytes: (any Channel) -> Int
    private(set) var bytes = 0
    /// Whether a look is scheduled. It is never cancelled (a cancel walks the loop's
    /// timers); it stops itself once nothing is held.
    private var looking = false
    /// NIO's buffered bytes at the last look (nil: the next look only takes the measure), and
    /// the counted bytes handed down since.
    private var lastPending: Int?
    private var handedSinceLook = 0

    fileprivate init(budget: UnsentBudget, channel: any Channel, pendingBytes: @escaping (any Channel) -> Int) {
        self.budget = budget
        self.channel = channel
        self.pendingBytes = pendingBytes
    }

    func handed(_ count: Int) {
        if bytes == 0 {
            lastPending = nil
            if !looking { scheduleLook() }
        }
        bytes += count
        handedSinceLook += count
        budget.set(ObjectIdentifier(self), channel: channel, to: bytes)
    }

    func taken(_ count: Int) {
        bytes -= count
        budget.set(ObjectIdentifier(self), channel: channel, to: bytes)
    }

    private func scheduleLook() {
        looking = true
        channel.eventLoop.assumeIsolated().scheduleTask(in: budget.progressInterval) { [self] in
            looking = false
            guard bytes > 0 else { return }
            let pending = pendingBytes(channel)
            if let lastPending, pending < lastPending + handedSinceLook { budget.progressed(ObjectIdentifier(self)) }
            (lastPending, handedSinceLook) = (pending, 0)
            scheduleLook()
        }
    }

    deinit {
        if bytes > 0 { budget.set(ObjectIdentifier(self), channel: channel, to: 0) }
    }
}
