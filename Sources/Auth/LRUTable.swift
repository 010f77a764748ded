/// (A copy of RateLimit's LRUTable: the leaf modules do not import each other.)
/// A capacity-bounded table with least-recently-used order, in O(1) per operation.
///
/// Why not a `Dictionary` plus a `Deque` of keys: removing from the middle of a deque is O(n),
/// and lazy deletion makes the deque grow with every access. Here the LRU list is intrusive:
/// each slot stores its neighbours' slot numbers in parallel arrays, so touching, inserting and
/// removing never allocate once the table has reached its capacity. Freed slots go on a free list.
///
/// Slots are stable: a slot number stays valid for a key until that key is removed.
@usableFromInline
struct LRUTable<Key: Hashable, Value> {
    /// Largest number of keys the table holds; `insert` beyond it is a programming error.
    @usableFromInline let capacity: Int
    @usableFromInline var index: [Key: Int]
    @usableFromInline var keys: [Key] = []
    @usableFromInline var values: [Value] = []
    /// Neighbour towards the most recent end; `-1` at the head, `-2` marks a free slot.
    @usableFromInline var previous: [Int] = []
    /// Neighbour towards the least recent end; `-1` at the tail.
    @usableFromInline var next: [Int] = []
    @usableFromInline var freeSlots: [Int] = []
    @usableFromInline var head = -1
    @usableFromInline var tail = -1

    @inlinable
    init(capacity: Int) {
        precondition(capacity > 0, "LRUTable capacity must be positive")
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
    func key(at slot: Int) -> Key { keys[slot] }
    @inlinable
    func isOccupied(_ slot: Int) -> Bool { slot >= 0 && slot < previous.count && previous[slot] != -2 }

    @inlinable
    subscript(slot: Int) -> Value {
        get { values[slot] }
        set { values[slot] = newValue }
    }

    /// The slot used least recently, the one an LRU eviction removes.
    @inlinable
    var leastRecentSlot: Int? { tail >= 0 ? tail : nil }

    /// All occupied slots, most recent first (for tests, compaction and metrics; O(n)).
    @inlinable
    var slotsByRecency: [Int] {
        var result: [Int] = []
        result.reserveCapacity(count)
        var cursor = head
        while cursor >= 0 {
            result.append(cursor)
            cursor = next[cursor]
        }
        return result
    }

    /// Marks `slot` as the most recently used.
    @inlinable
    mutating func touch(_ slot: Int) {
        guard slot != head else { return }
        unlink(slot)
        linkAtHead(slot)
    }

    /// Inserts a new key as the most recently used. The key must be absent and the table not full.
    @inlinable
    @discardableResult
    mutating func insert(_ key: Key, value: Value) -> Int {
        precondition(index.count < capacity, "LRUTable is full: evict first")
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = reused
            keys[slot] = key
            values[slot] = value
        } else {
            slot = keys.count
            keys.append(key)
            values.append(value)
            previous.append(-1)
            next.append(-1)
        }
        index[key] = slot
        linkAtHead(slot)
        return slot
    }

    /// Removes the key in `slot`. Its key and value stay in the arrays until the slot is reused,
    /// which bounds memory by `capacity` and keeps removal allocation-free.
    @inlinable
    mutating func remove(_ slot: Int) {
        precondition(isOccupied(slot), "LRUTable.remove of a free slot")
        unlink(slot)
        previous[slot] = -2
        index.removeValue(forKey: keys[slot])
        freeSlots.append(slot)
    }

    @inlinable
    mutating func unlink(_ slot: Int) {
        let before = previous[slot]
        let after = next[slot]
        if before >= 0 { next[before] = after } else { head = after }
        if after >= 0 { previous[after] = before } else { tail = before }
    }

    @inlinable
    mutating func linkAtHead(_ slot: Int) {
        previous[slot] = -1
        next[slot] = head
        if head >= 0 { previous[head] = slot }
        head = slot
        if tail < 0 { tail = slot }
    }
}

extension LRUTable: Sendable where Key: Sendable, Value: Sendable {}
