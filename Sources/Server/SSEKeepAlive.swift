import Dispatch
import NIOCore
import Synchronization

/// One keep-alive timer per ping interval, shared by every open stream with that interval.
///
/// A dispatch timer per stream costs ≈ 0.45 KiB (source object, continuation, handler block)
/// and a wake-up per stream per interval; with thousands of open streams that is most of
/// what an idle stream costs above its connection. A member costs one table entry instead,
/// and a tick walks the table once. A stream's first ping comes within one interval of its
/// registration (not exactly one interval after it), which is all a keep-alive needs. The
/// timer is cancelled when its last member leaves, so an idle server runs no timers. Dispatch,
/// not `Task.sleep`: a cancelled sleep would hold its memory until the interval ends.
final class SSEKeepAlive: Sendable {
    static let shared = SSEKeepAlive(queue: DispatchQueue(label: "mcp.sse-keepalive"))

    /// Called on every tick; returns false when its stream has ended (it is then dropped).
    typealias Ping = @Sendable () -> Bool

    /// A member's place in the table; hand it back to ``leave(_:)``.
    struct Membership: Sendable, Hashable {
        fileprivate let interval: Int64
        fileprivate let id: UInt64
    }

    private struct Ticker {
        let timer: any DispatchSourceTimer
        var members: [UInt64: Ping] = [:]
    }

    private struct State {
        var tickers: [Int64: Ticker] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    private let queue: DispatchQueue

    init(queue: DispatchQueue) {
        self.queue = queue
    }

    /// Adds `ping` to the ticker for `interval` (at least 10 ms), starting it if needed.
    func join(interval: Duration, _ ping: @escaping Ping) -> Membership {
        let nanos = Int64(TimeAmount(max(interval, .milliseconds(10))).nanoseconds)
        return state.withLock { state in
            state.nextID &+= 1
            let id = state.nextID
            if state.tickers[nanos] == nil {
                let timer = DispatchSource.makeTimerSource(queue: queue)
                timer.schedule(deadline: .now() + .nanoseconds(Int(nanos)), repeating: .nanoseconds(Int(nanos)))
                // Strong: the ticker is cancelled and dropped when its last member leaves,
                // which ends the cycle. (A weak capture gave the immortal shared instance a
                // side table that LeakSanitizer, not seeing through the refcount word, reports.)
                timer.setEventHandler { [self] in tick(nanos) }
                timer.resume()
                state.tickers[nanos] = Ticker(timer: timer)
            }
            state.tickers[nanos]!.members[id] = ping
            return Membership(interval: nanos, id: id)
        }
    }

    /// Removes a member; the last one out stops its ticker. Leaving twice is harmless.
    func leave(_ membership: Membership) {
        let stopped: (any DispatchSourceTimer)? = state.withLock { state in
            guard var ticker = state.tickers[membership.interval] else { return nil }
            ticker.members[membership.id] = nil
            if ticker.members.isEmpty {
                state.tickers[membership.interval] = nil
                return ticker.timer
            }
            state.tickers[membership.interval] = ticker
            return nil
        }
        stopped?.cancel()
    }

    /// How many tickers run (one per distinct interval with members).
    var tickerCount: Int { state.withLock { $0.tickers.count } }

    /// How many members a ticker has.
    func memberCount(interval: Duration) -> Int {
        let nanos = Int64(TimeAmount(max(interval, .milliseconds(10))).nanoseconds)
        return state.withLock { $0.tickers[nanos]?.members.count ?? 0 }
    }

    private func tick(_ interval: Int64) {
        // Pings run outside the lock: a ping takes its stream's lock.
        let members = state.withLock { $0.tickers[interval].map { Array($0.members) } ?? [] }
        for (id, ping) in members where !ping() {
            leave(Membership(interval: interval, id: id))
        }
    }
}
