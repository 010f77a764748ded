import DequeModule

/// A capacity-bounded table with least-recently-used order, O(1) amortised per operation.
///
/// Recency is a queue of `(slot, stamp)` with lazy deletion: every use appends a new entry and
/// gives the slot a new stamp; an entry whose stamp is no longer the slot's is stale and is
/// skipped when it reaches the front. A use therefore writes one node and appends to a
/// sequential buffer; an intrusive doubly linked list would also write both random neighbours,
/// two more cache misses per decision in a 100k-key table (measured: see bench/limits).
/// When stale entries make the queue longer than `2·capacity + 64` it is compacted in place
/// (order kept), which the ≥ `capacity + 64` uses since the last compaction pay for.
///
/// Memory: `capacity` nodes + at most `2·capacity + 64` queue entries. Slots are stable: a slot
/// number stays valid for its key until the key is removed.
@usableFromInline
struct LRUTable<Key: Hashable, Value> {
    @usableFromInline
    struct Node {
        @usableFromInline var key: Key
        @usableFromInline var value: Value
        /// 0 marks a free slot; otherwise the stamp of the slot's latest queue entry.
        @usableFromInline var stamp: UInt64

        @inlinable
        init(key: Key, value: Value, stamp: UInt64) {
            self.key = key
            self.value = value
            self.stamp = stamp
        }
    }

    @usableFromInline
    struct Use {
        @usableFromInline var slot: Int32
        @usableFromInline var stamp: UInt64

        @inlinable
        init(slot: Int32, stamp: UInt64) {
            self.slot = slot
            self.stamp = stamp
        }
    }

    /// Largest number of keys the table holds; `insert` beyond it is a programming error.
    @usableFromInline let capacity: Int
    @usableFromInline var index: [Key: Int]
    @usableFromInline var nodes: [Node] = []
    @usableFromInline var freeSlots: [Int] = []
    @usableFromInline var uses = Deque<Use>()
    @usableFromInline var nextStamp: UInt64 = 1

    @inlinable
    init(capacity: Int) {
        precondition(capacity > 0 && capacity < Int(Int32.max), "LRUTable capacity must be in 1..<2^31")
        self.capacity = capacity
        self.index = Dictionary(minimumCapacity: min(capacity, 1 << 16))
    }

    @inlinable
    var count: Int { index.count }
    @inlinable
    var isFull: Bool { index.count >= capacity }

    @inlinable
    func slot(for key: Key) -> Int? { index[key] }
    @inlinable
    func key(at slot: Int) -> Key { nodes[slot].key }
    @inlinable
    func isOccupied(_ slot: Int) -> Bool { slot >= 0 && slot < nodes.count && nodes[slot].stamp != 0 }

    @inlinable
    subscript(slot: Int) -> Value {
        get { nodes[slot].value }
        set { nodes[slot].value = newValue }
    }

    /// The slot used least recently (dropping stale queue entries on the way).
    @inlinable
    mutating func leastRecentSlot() -> Int? {
        while let first = uses.first {
            if nodes[Int(first.slot)].stamp == first.stamp { return Int(first.slot) }
            uses.removeFirst()
        }
        return nil
    }

    /// All occupied slots, most recent first (tests, heap rebuilds; O(queue length)).
    @inlinable
    var slotsByRecency: [Int] {
        var result: [Int] = []
        result.reserveCapacity(count)
        for use in uses.reversed() where nodes[Int(use.slot)].stamp == use.stamp {
            result.append(Int(use.slot))
        }
        return result
    }

    /// Queue entries held, live or stale (tests check the memory bound).
    @inlinable
    var queueCount: Int { uses.count }

    /// Marks `slot` as the most recently used.
    @inlinable
    mutating func touch(_ slot: Int) {
        if let last = uses.last, Int(last.slot) == slot, nodes[slot].stamp == last.stamp { return }
        stamp(slot)
    }

    /// Inserts a new key as the most recently used. The key must be absent and the table not full.
    @discardableResult
    @inlinable
    mutating func insert(_ key: Key, value: Value) -> Int {
        precondition(index.count < capacity, "LRUTable is full: evict first")
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = reused
            nodes[slot] = Node(key: key, value: value, stamp: 0)
        } else {
            slot = nodes.count
            nodes.append(Node(key: key, value: value, stamp: 0))
        }
        index[key] = slot
        stamp(slot)
        return slot
    }

    /// Removes the key in `slot`; its queue entries become stale.
    @inlinable
    mutating func remove(_ slot: Int) {
        precondition(isOccupied(slot), "LRUTable.remove of a free slot")
        nodes[slot].stamp = 0
        index.removeValue(forKey: nodes[slot].key)
        freeSlots.append(slot)
    }

    @inlinable
    mutating func stamp(_ slot: Int) {
        if uses.count >= 2 * capacity + 64 { compact() }
        let stamp = nextStamp
        nextStamp += 1
        nodes[slot].stamp = stamp
        uses.append(Use(slot: Int32(slot), stamp: stamp))
    }

    /// Drops stale entries, keeping the order of the live ones (one per occupied slot).
    @inlinable
    mutating func compact() {
        var live = Deque<Use>(minimumCapacity: 2 * capacity + 64)
        for use in uses where nodes[Int(use.slot)].stamp == use.stamp {
            live.append(use)
        }
        uses = live
    }
}

extension LRUTable: Sendable where Key: Sendable, Value: Sendable {}
extension LRUTable.Node: Sendable where Key: Sendable, Value: Sendable {}
extension LRUTable.Use: Sendable {}
