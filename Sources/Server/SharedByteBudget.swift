import NIOCore
import Prometheus
import RateLimit
import Synchronization

/// One ``ByteBudget`` shared by every event loop, for bytes the public connections hold while
/// their peers keep them there: `limits.max_unsent_bytes` (answers handed down and not yet
/// written, ``UnsentAccount``) and `limits.max_buffered_body_bytes` (request bodies received
/// before they are whole, ``HeldBody``). Past it, the connections that have gone longest without
/// progress are closed, counted in `mcp_connections_evicted_total{reason}`.
public final class SharedByteBudget: Sendable {
    private struct State {
        var budget: ByteBudget<ObjectIdentifier>
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    private let state: Mutex<State>
    private let evicted: Counter?
    /// How often a connection holding counted answer bytes looks whether the kernel took any
    /// (an answer is one write: its count only falls when all of it is out).
    let progressInterval: TimeAmount
    /// The bytes a body must receive to count as progress (``HeldBody``).
    let progressStep: Int

    /// The answers' budget: `mcp_unsent_bytes`, `reason="unsent_bytes"`.
    public static func unsent(capacity: Int, metrics: ServerMetrics?, progressInterval: TimeAmount = .seconds(1)) -> SharedByteBudget {
        SharedByteBudget(capacity: capacity, reason: "unsent_bytes", held: .unsentBytes, max: .unsentBytesMax,
                         metrics: metrics, progressInterval: progressInterval)
    }

    /// The request bodies' budget: `mcp_buffered_body_bytes`, `reason="body_bytes"`.
    public static func bodies(capacity: Int, metrics: ServerMetrics?, progressStep: Int = 16 * 1024) -> SharedByteBudget {
        SharedByteBudget(capacity: capacity, reason: "body_bytes", held: .bufferedBodyBytes, max: .bufferedBodyBytesMax,
                         metrics: metrics, progressStep: progressStep)
    }

    private init(capacity: Int, reason: String, held: ServerMetrics.Family, max: ServerMetrics.Family,
                 metrics: ServerMetrics?, progressInterval: TimeAmount = .seconds(1), progressStep: Int = 0) {
        state = Mutex(State(budget: ByteBudget(capacity: capacity)))
        self.progressInterval = progressInterval
        self.progressStep = progressStep
        evicted = metrics?.counter(.connectionsEvicted, reason)
        metrics?.gauge(max).set(to: Double(capacity))
        if let gauge = metrics?.gauge(held) {
            metrics?.beforeRender { [self] in gauge.set(to: Double(total)) }
        }
    }

    /// The bytes counted now, the ones of connections chosen to close included until they have.
    public var total: Int { state.withLock { $0.budget.total } }

    /// A holder's count changed (after progress, when `progressed`); closes, on their own
    /// loops, the connections that must go.
    func set(_ holder: ObjectIdentifier, channel: any Channel, to bytes: Int, progressed: Bool = false) {
        close(state.withLock { Self.set(holder, channel: channel, to: bytes, progressed: progressed, in: &$0) })
    }

    /// `delta` more (or fewer) bytes held on `channel`, which is one holder whatever holds
    /// them there: the answer its codec handed down (``UnsentAccount``) and the queue of the
    /// SSE stream it carries (``SSEStream``). So the progress of either is the connection's:
    /// as two holders, a reader taking a large answer slowly left its stream's queue (the
    /// next answer, a ping) without progress, and was closed before a client that took nothing.
    func change(_ delta: Int, on channel: any Channel) {
        guard delta != 0 else { return }
        close(state.withLock { state in
            let holder = ObjectIdentifier(channel)
            let bytes = state.budget.bytes(of: holder) + delta
            assert(bytes >= 0, "a connection let go of more than it held")
            return Self.set(holder, channel: channel, to: max(0, bytes), progressed: false, in: &state)
        })
    }

    /// The peer of `channel` took some of what it holds there (``change(_:on:)``).
    func progressed(on channel: any Channel) {
        state.withLock { $0.budget.progressed(ObjectIdentifier(channel)) }
    }

    private static func set(_ holder: ObjectIdentifier, channel: any Channel, to bytes: Int, progressed: Bool,
                            in state: inout State) -> [(ObjectIdentifier, any Channel)] {
        if bytes == 0 {
            state.channels[holder] = nil
        } else if state.channels[holder] == nil {
            state.channels[holder] = channel
        }
        // Progress first: the bytes that just arrived are no reason to close their sender.
        if progressed { state.budget.progressed(holder) }
        return state.budget.set(holder, to: bytes).compactMap { id in state.channels[id].map { (id, $0) } }
    }

    private func close(_ victims: [(ObjectIdentifier, any Channel)]) {
        for (id, victim) in victims {
            // Never from inside the call that found the budget passed (it may be the
            // victim's own): on its loop once that call has returned, and only if it still
            // holds what it was chosen for and the budget still needs it gone (a write or a
            // body that completed meanwhile, its own or the one that passed the budget, made
            // room). The holder must still be on this channel: a body that completed may have
            // left its identifier (its address) to a new body on another connection.
            victim.eventLoop.execute { [self] in
                guard victim.isActive, state.withLock({ $0.channels[id] === victim && $0.budget.stillNeeded(id) }) else { return }
                evicted?.increment()
                victim.close(promise: nil)
            }
        }
    }

    /// The account of one connection's unsent bytes, kept by its codec on its event loop.
    /// `pendingBytes` reads what NIO still holds for the socket (tests inject it).
    func account(for channel: any Channel, pendingBytes: @escaping (any Channel) -> Int = RequestDeadlines.bufferedBytes) -> UnsentAccount {
        UnsentAccount(budget: self, channel: channel, pendingBytes: pendingBytes)
    }

    /// The account of one request body being collected on `channel`.
    func body(on channel: any Channel) -> HeldBody {
        HeldBody(budget: self, channel: channel)
    }
}

/// One request body being collected: counted as the memory its buffer holds (NIO grows a
/// buffer to the next power of two, so up to twice the bytes received). Every
/// ``SharedByteBudget/progressStep`` bytes received (16 KiB) are progress, so the bodies that
/// stalled go first; a byte at a time (a 1-byte chunk or TLS record every few milliseconds)
/// would otherwise keep a body ahead of an honest upload that paused, until `body_timeout`.
/// Released when the body is whole (or its collection failed): the parse that follows holds it
/// a moment longer, uncounted, in at most one task per thread.
final class HeldBody {
    private let budget: SharedByteBudget
    private let channel: any Channel
    private(set) var bytes = 0
    private var sinceProgress = 0

    fileprivate init(budget: SharedByteBudget, channel: any Channel) {
        self.budget = budget
        self.channel = channel
    }

    /// `count` more bytes arrived; the body's buffer now holds `capacity`.
    func received(_ count: Int, holding capacity: Int) {
        sinceProgress += count
        let progressed = sinceProgress >= budget.progressStep
        if progressed { sinceProgress = 0 }
        // Nothing changed for the budget: no trip to its lock (a body in small parts, each
        // under the 16 KiB step, changes nothing most of the time).
        guard progressed || capacity != bytes else { return }
        bytes = capacity
        budget.set(ObjectIdentifier(self), channel: channel, to: bytes, progressed: progressed)
    }

    deinit {
        if bytes > 0 { budget.set(ObjectIdentifier(self), channel: channel, to: 0) }
    }
}
