import Dispatch
import Synchronization

/// The deadlines of the tool calls in flight, as pure state: which have expired at a given
/// instant, and when the one shared timer must fire next.
///
/// Calls usually finish long before their deadline, and most share one timeout, so the
/// timer is armed for the earliest deadline and then left alone: a new call whose deadline
/// is later than the armed instant needs no timer operation, and a finished call is only
/// removed from the table. When the timer fires it expires what is due and is armed for
/// the earliest remaining deadline (or not at all).
struct DeadlineTable<Action> {
    private var entries: [UInt64: (deadline: UInt64, action: Action)] = [:]
    private var nextID: UInt64 = 0
    /// When the timer is armed to fire (nanoseconds of the clock in use), if it is.
    private(set) var armedAt: UInt64?

    var count: Int { entries.count }

    /// Adds a deadline. `rearm` is the instant the timer must now be armed for, or nil when
    /// the armed instant already comes first.
    mutating func add(deadline: UInt64, action: Action) -> (id: UInt64, rearm: UInt64?) {
        nextID += 1
        entries[nextID] = (deadline, action)
        if let armedAt, armedAt <= deadline { return (nextID, nil) }
        armedAt = deadline
        return (nextID, deadline)
    }

    /// Forgets a deadline (the call finished). The timer stays as it is.
    @discardableResult
    mutating func remove(_ id: UInt64) -> Bool {
        entries.removeValue(forKey: id) != nil
    }

    /// The timer fired at `now`: returns the expired actions (removed) and the instant to
    /// arm the timer for next, if any deadline remains.
    mutating func fire(now: UInt64) -> (expired: [Action], rearm: UInt64?) {
        var expired: [Action] = []
        var earliest: UInt64?
        for (id, entry) in entries {
            if entry.deadline <= now {
                expired.append(entry.action)
                entries.removeValue(forKey: id)
            } else {
                earliest = min(earliest ?? entry.deadline, entry.deadline)
            }
        }
        armedAt = earliest
        return (expired, earliest)
    }
}

/// One dispatch timer for every tool-call deadline of a dispatcher (see ``DeadlineTable``).
/// A timer source per call re-armed libdispatch's timer thread on every call: a context
/// switch per request, measured at about a sixth of the server's CPU for `tools/call`.
/// `@unchecked`: a dispatch source may be rescheduled from any thread; the table is locked.
final class ToolDeadlines: @unchecked Sendable {
    typealias Action = @Sendable () -> Void
    /// The action in a struct: a closure stored as a generic value is kept in the generic
    /// form, and storing it wrapped it in a thunk (an allocation per call).
    private struct Entry {
        let action: Action
    }

    private let table = Mutex(DeadlineTable<Entry>())
    private let timer: any DispatchSourceTimer

    init(queue: DispatchQueue = DispatchQueue(label: "mcp.tool-deadlines")) {
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .distantFuture)
        timer.resume()
        timer.setEventHandler { [weak self] in self?.fire() }
    }

    deinit { timer.cancel() }

    private func fire() {
        // The timer is rescheduled under the lock, so that it always matches the table's
        // `armedAt` even when a call is added concurrently.
        let expired = table.withLock { table in
            let (expired, rearm) = table.fire(now: DispatchTime.now().uptimeNanoseconds)
            if let rearm { timer.schedule(deadline: DispatchTime(uptimeNanoseconds: rearm)) }
            return expired
        }
        for entry in expired { entry.action() }
    }

    /// The longest deadline: the table keeps nanoseconds of uptime, and a day keeps that far
    /// from overflow. `timeout.operation` is validated to at most this.
    static let maximum = Duration.seconds(86_400)

    /// Runs `action` once `timeout` has passed (at most ``maximum``), unless `cancel` is
    /// called first.
    func schedule(after timeout: Duration, _ action: @escaping Action) -> UInt64 {
        let nanoseconds = UInt64(max(0, min(timeout, Self.maximum).nanoseconds))
        let deadline = DispatchTime.now().uptimeNanoseconds + nanoseconds
        return table.withLock { table in
            let (id, rearm) = table.add(deadline: deadline, action: Entry(action: action))
            if let rearm { timer.schedule(deadline: DispatchTime(uptimeNanoseconds: rearm)) }
            return id
        }
    }

    func cancel(_ id: UInt64) {
        table.withLock { _ = $0.remove(id) }
    }

    var pending: Int { table.withLock { $0.count } }
}
