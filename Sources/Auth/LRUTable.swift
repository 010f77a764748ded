/// (A copy of RateLimit's LRUTable: the leaf modules do not import each other.)
/// A capacity-bounded table with least-recently-used order, in O(1) per operation.
///
/// Why not a `Dictionary` plus a `Deque` of keys: removing from the middle of a deque is O(n),
/// and lazy deletion makes the deque grow with every access. Here the LRU list is intrusive:
/// each slot stores its neighbours' slot numbers in parallel arrays, so touching, inserting and
/// removing never allocate once the table has reached its capacity. Freed slots go on a free list.
///
/// Slots are stable: a slot number stays valid for a key until that key is removed.
struct LRUTable<Key: Hashable, Value> {
    /// Largest number of keys the table holds; `insert` beyond it is a programming error.
    let capacity: Int
    private var index: [Key: Int]
    private var keys: [Key] = []
    private var values: [Value] = []
    /// Neighbour towards the most recent end; `-1` at the head, `-2` marks a free slot.
    private var previous: [Int] = []
    /// Neighbour towards the least recent end; `-1` at the tail.
    private var next: [Int] = []
    private var freeSlots: [Int] = []
    private var head = -1
    private var tail = -1

    init(capacity: Int) {
        precondition(capacity > 0, "LRUTable capacity must be positive")
        self.capacity = capacity
        self.index = Dictionary(minimumCapacity: min(capacity, 1 << 16))
    }

    var count: Int { index.count }
    var isFull: Bool { index.count >= capacity }

    func slot(for key: Key) -> Int? { index[key] }
    func key(at slot: Int) -> Key { keys[slot] }
    func isOccupied(_ slot: Int) -> Bool { slot >= 0 && slot < previous.count && previous[slot] != -2 }

    subscript(slot: Int) -> Value {
        get { values[slot] }
        set { values[slot] = newValue }
    }

    /// The slot used least recently, the one an LRU eviction removes.
    var leastRecentSlot: Int? { tail >= 0 ? tail : nil }

    /// All occupied slots, most recent first (for tests, compaction and metrics; O(n)).
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
    mutating func touch(_ slot: Int) {
        guard slot != head else { return }
        unlink(slot)
        linkAtHead(slot)
    }

    /// Inserts a new key as the most recently used. The key must be absent and the table not full.
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
    mutating func remove(_ slot: Int) {
        precondition(isOccupied(slot), "LRUTable.remove of a free slot")
        unlink(slot)
        previous[slot] = -2
        index.removeValue(forKey: keys[slot])
        freeSlots.append(slot)
    }

    private mutating func unlink(_ slot: Int) {
        let before = previous[slot]
        let after = next[slot]
        if before >= 0 { next[before] = after } else { head = after }
        if after >= 0 { previous[after] = before } else { tail = before }
    }

    private mutating func linkAtHead(_ slot: Int) {
        previous[slot] = -1
        next[slot] = head
        if head >= 0 { previous[head] = slot }
        head = slot
        if tail < 0 { tail = slot }
    }
}

extension LRUTable: Sendable where Key: Sendable, Value: Sendable {}
