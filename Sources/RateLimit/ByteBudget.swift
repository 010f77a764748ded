import DequeModule

/// One budget for bytes that connections hold in the server while a slow peer keeps them
/// there: the answer bytes handed down and not yet sent (`limits.max_unsent_bytes`), the
/// request body bytes received before the body is whole (`limits.max_buffered_body_bytes`).
///
/// Each connection's own share is bounded elsewhere (one answer at a time, `server.max_body`,
/// and the timeouts), but their sum was not: a few hundred clients that each ask for a large
/// answer and never read it, or send a large body all but its last byte, held a few hundred
/// times that.
///
/// Past the budget, holders are chosen to be closed, the one that has gone longest without
/// progress first (a reader taking some of its answer, a sender's next bytes arriving), until
/// the others fit: the ones that stalled go first. A chosen holder stays counted (its bytes
/// are only freed once it reports 0, when it closes) but is not chosen again.
///
/// A pure state machine: the caller locks it and closes the holders it names.
public struct ByteBudget<Holder: Hashable> {
    public let capacity: Int

    private struct Entry {
        var bytes: Int
        /// When it last made progress (or started holding), in the budget's own count of
        /// events: only the order matters, and each value is given once.
        var since: UInt64
        var chosen: Bool
    }

    private var entries: [Holder: Entry] = [:]
    /// Holders in the order of their `since`, oldest first. An element whose holder has
    /// moved on (progress, release, chosen) is stale and skipped; the queue is compacted when
    /// stale ones outnumber the live, so choosing a victim costs O(1) amortised, not a walk
    /// over every holder under the caller's lock.
    private var order: Deque<(holder: Holder, since: UInt64)> = []
    private var tick: UInt64 = 0
    /// Every holder's bytes, the chosen ones' included until they report 0.
    public private(set) var total = 0
    /// The chosen holders' bytes: going, so no longer weighed against the budget.
    private var going = 0
    /// Holders chosen to be closed, since the start (less the ones reprieved).
    public private(set) var chosenCount: UInt64 = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "the budget must be positive")
        self.capacity = capacity
    }

    /// Connections holding bytes now.
    public var holders: Int { entries.count }
    /// What `holder` holds now (0: nothing).
    public func bytes(of holder: Holder) -> Int { entries[holder]?.bytes ?? 0 }
    /// Elements in the order queue, stale ones included (tests: it stays bounded).
    var queued: Int { order.count }

    /// Whether `holder` was chosen to be closed and still holds bytes: a close that comes
    /// after the holder has released everything (and maybe started again) is not needed.
    public func isChosen(_ holder: Holder) -> Bool {
        entries[holder]?.chosen ?? false
    }

    /// `holder` now holds `bytes` (0: none, or it closed). Returns the holders to close,
    /// `holder` itself possibly among them, so that the ones left fit the budget. A decrease
    /// is progress; an increase is not (an answer handed down, not taken), unless the caller
    /// says so with ``progressed(_:)`` first (a body's bytes arriving).
    public mutating func set(_ holder: Holder, to bytes: Int) -> [Holder] {
        precondition(bytes >= 0)
        tick &+= 1
        guard bytes > 0 else {
            if let old = entries.removeValue(forKey: holder) {
                total -= old.bytes
                if old.chosen { going -= old.bytes }
            }
            compactIfStale()
            return []
        }
        if var entry = entries[holder] {
            total += bytes - entry.bytes
            if entry.chosen {
                going += bytes - entry.bytes
            } else if bytes < entry.bytes {
                entry.since = tick
                order.append((holder, tick))
            }
            entry.bytes = bytes
            entries[holder] = entry
        } else {
            entries[holder] = Entry(bytes: bytes, since: tick, chosen: false)
            order.append((holder, tick))
            total += bytes
        }
        // One holder over the whole budget by itself: closing the others would not make it fit.
        if bytes > capacity, entries[holder]?.chosen == false {
            choose(holder)
            compactIfStale()
            return [holder]
        }
        var chosen: [Holder] = []
        while total - going > capacity, let next = order.popFirst() {
            guard let entry = entries[next.holder], !entry.chosen, entry.since == next.since else { continue }
            choose(next.holder)
            chosen.append(next.holder)
        }
        compactIfStale()
        return chosen
    }

    /// Marks a holder, not chosen yet, as going: its bytes no longer weigh against the budget.
    private mutating func choose(_ holder: Holder) {
        entries[holder]!.chosen = true
        going += entries[holder]!.bytes
        chosenCount += 1
    }

    /// `holder` made progress without its count going down: the kernel took some of its
    /// bytes, but the write they belong to has not completed (a large answer is one write), or
    /// more of its body arrived. It moves to the back, as a decrease would move it.
    public mutating func progressed(_ holder: Holder) {
        tick &+= 1
        guard var entry = entries[holder], !entry.chosen else { return }
        entry.since = tick
        entries[holder] = entry
        order.append((holder, tick))
        compactIfStale()
    }

    /// Whether `holder`, chosen, must still go when its close comes to run. What passed the
    /// budget may have gone meanwhile (an answer written at once to a fast reader, or failed; a
    /// body that completed): a holder the budget would now take back is reprieved, first in
    /// line again.
    public mutating func stillNeeded(_ holder: Holder) -> Bool {
        guard var entry = entries[holder], entry.chosen else { return false }
        guard total - going + entry.bytes <= capacity else { return true }
        entry.chosen = false
        entries[holder] = entry
        going -= entry.bytes
        chosenCount -= 1
        order.prepend((holder, entry.since))
        return false
    }

    /// Drops the stale elements of `order` once they are more than half of it.
    private mutating func compactIfStale() {
        guard order.count > 2 * entries.count + 16 else { return }
        order = Deque(order.filter { element in
            guard let entry = entries[element.holder] else { return false }
            return !entry.chosen && entry.since == element.since
        })
    }
}
