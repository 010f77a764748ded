import Testing
@testable import RateLimit

@Suite struct LRUTableTests {
    @Test func orderFollowsUse() {
        var table = LRUTable<String, Int>(capacity: 3)
        let a = table.insert("a", value: 1)
        let b = table.insert("b", value: 2)
        _ = table.insert("c", value: 3)
        #expect(table.leastRecentSlot() == a)
        table.touch(a)
        #expect(table.leastRecentSlot() == b)
        table.remove(b)
        #expect(table.slot(for: "b") == nil)
        let d = table.insert("d", value: 4)
        #expect(d == b, "freed slots are reused")
        #expect(table.slotsByRecency.map { table.key(at: $0) } == ["d", "a", "c"])
        #expect(table.isFull)
    }

    @Test func removeHeadAndTailKeepLinksConsistent() {
        var table = LRUTable<Int, Int>(capacity: 4)
        for key in 0..<4 { table.insert(key, value: key) }
        table.remove(table.slot(for: 3)!)  // head
        table.remove(table.slot(for: 0)!)  // tail
        #expect(table.slotsByRecency.map { table.key(at: $0) } == [2, 1])
        table.remove(table.slot(for: 1)!)
        table.remove(table.slot(for: 2)!)
        #expect(table.count == 0 && table.leastRecentSlot() == nil)
        table.insert(9, value: 9)
        #expect(table.slotsByRecency.count == 1)
    }

    /// Lazy deletion must not grow the recency queue without bound, and compaction keeps order.
    @Test func recencyQueueIsBoundedAndCompactionKeepsOrder() {
        var table = LRUTable<Int, Int>(capacity: 10)
        for key in 0..<10 { table.insert(key, value: key) }
        for round in 0..<10_000 {
            table.touch(table.slot(for: round % 10)!)
            #expect(table.queueCount <= 2 * 10 + 64)
        }
        // Last touches were ..., 7, 8, 9 (round 9_999 touched 9): most recent first.
        #expect(table.slotsByRecency.map { table.key(at: $0) } == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
        #expect(table.leastRecentSlot() == table.slot(for: 0))
    }
}
