/// One budget for the answer bytes every connection has been handed and not yet sent
/// (`limits.max_unsent_bytes`).
///
/// Each connection's own backlog is bounded elsewhere: one answer at a time, and the idle and
/// send timeouts cut a client that stops reading. Their sum was not: a few hundred clients
/// that each ask for a large answer and never read it held a few hundred times that answer.
///
/// Past the budget, connections are chosen to be closed, the one that has gone longest without
/// taking any of its backlog first, until the others fit: a client that reads makes progress
/// and moves to the back, so the readers that stalled go first. A chosen holder stays counted
/// (its bytes are only freed once it reports 0, when it closes) but is not chosen again.
///
/// A pure state machine: the caller locks it and closes the holders it names.
public struct UnsentBytesBudget<Holder: Hashable> {
    public let capacity: Int

    private struct Entry {
        var bytes: Int
        /// When it last made progress (or started holding), in the budget's own count of
        /// events: only the order matters.
        var since: UInt64
        var chosen: Bool
    }

    private var entries: [Holder: Entry] = [:]
    private var tick: UInt64 = 0
    /// Every holder's bytes, the chosen ones' included until they report 0.
    public private(set) var total = 0
    /// The chosen holders' bytes: going, so no longer weighed against the budget.
    private var going = 0
    /// Holders chosen to be closed, since the start.
    public private(set) var chosenCount: UInt64 = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "the budget must be positive")
        self.capacity = capacity
    }

    /// Connections holding bytes now.
    public var holders: Int { entries.count }

    /// `holder` now holds `bytes` unsent (0: none, or it closed). Returns the holders to
    /// close, `holder` itself possibly among them, so that the ones left fit the budget.
    public mutating func set(_ holder: Holder, to bytes: Int) -> [Holder] {
        precondition(bytes >= 0)
        tick &+= 1
        guard bytes > 0 else {
            if let old = entries.removeValue(forKey: holder) {
                total -= old.bytes
                if old.chosen { going -= old.bytes }
            }
            return []
        }
        if var entry = entries[holder] {
            total += bytes - entry.bytes
            if entry.chosen {
                going += bytes - entry.bytes
            } else if bytes < entry.bytes {
                entry.since = tick
            }
            entry.bytes = bytes
            entries[holder] = entry
        } else {
            entries[holder] = Entry(bytes: bytes, since: tick, chosen: false)
            total += bytes
        }
        var chosen: [Holder] = []
        while total - going > capacity {
            var stalled: (holder: Holder, since: UInt64)?
            for (key, entry) in entries where !entry.chosen {
                if stalled == nil || entry.since < stalled!.since { stalled = (key, entry.since) }
            }
            guard let stalled else { break }
            entries[stalled.holder]!.chosen = true
            going += entries[stalled.holder]!.bytes
            chosenCount += 1
            chosen.append(stalled.holder)
        }
        return chosen
    }
}
