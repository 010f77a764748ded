import Testing
@testable import RateLimit

/// One budget for the bytes all connections hold (`limits.max_unsent_bytes`, `limits.max_buffered_body_bytes`).
@Suite struct ByteBudgetTests {
    /// The budget behind a reference: `#expect` cannot hold a mutation of a local value.
    final class Subject {
        var budget: ByteBudget<String>
        init(capacity: Int) { budget = ByteBudget(capacity: capacity) }
        func set(_ holder: String, _ bytes: Int) -> [String] { budget.set(holder, to: bytes) }
        func stillNeeded(_ holder: String) -> Bool { budget.stillNeeded(holder) }
    }

    @Test("within the budget nobody is closed, and the holders' bytes are summed")
    func withinBudget() {
        let s = Subject(capacity: 100)
        #expect(s.set("a", 40) == [])
        #expect(s.set("b", 60) == [])
        #expect(s.budget.total == 100 && s.budget.holders == 2)
        #expect(s.set("a", 0) == [])
        #expect(s.budget.total == 60 && s.budget.holders == 1)
    }

    @Test("past the budget the holder longest without progress is closed, not the newest nor the largest")
    func oldestStalledGoesFirst() {
        let s = Subject(capacity: 100)
        #expect(s.set("stalled", 30) == [])
        #expect(s.set("large", 60) == [])
        #expect(s.set("new", 20) == ["stalled"])
        #expect(s.budget.chosenCount == 1)
    }

    @Test("a holder that takes some of its bytes moves to the back; one that adds bytes keeps its place")
    func progressMovesToTheBack() {
        let s = Subject(capacity: 100)
        #expect(s.set("reader", 50) == [])
        #expect(s.set("staller", 40) == [])
        #expect(s.set("reader", 45) == [])  // it read: now the most recent to progress
        #expect(s.set("staller", 50) == [])  // more queued: no progress
        #expect(s.set("new", 10) == ["staller"])
    }

    @Test("as many are closed as it takes to fit, and one chosen is counted until it reports 0 but never chosen twice")
    func chosenAreNotChosenAgain() {
        let s = Subject(capacity: 100)
        #expect(s.set("a", 40) == [])
        #expect(s.set("b", 40) == [])
        #expect(s.set("c", 90) == ["a", "b"])
        // a and b are closing: their bytes stay counted until they are gone, but do not
        // make anyone else go.
        #expect(s.budget.total == 170)
        #expect(s.set("a", 35) == [])
        #expect(s.set("d", 10) == [])
        #expect(s.set("a", 0) == [] && s.set("b", 0) == [])
        #expect(s.budget.total == 100 && s.budget.chosenCount == 2)
    }

    @Test("progress without a decrease (the kernel took part of one large write) moves a holder to the back too")
    func progressWithoutADecrease() {
        let s = Subject(capacity: 100)
        #expect(s.set("reader", 50) == [])
        #expect(s.set("staller", 40) == [])
        s.budget.progressed("reader")
        #expect(s.set("new", 20) == ["staller"])
        #expect(s.budget.isChosen("staller") && !s.budget.isChosen("reader"))
        s.budget.progressed("staller")  // chosen: stays chosen
        #expect(s.budget.isChosen("staller"))
        #expect(s.set("staller", 0) == [] && !s.budget.isChosen("staller"))
    }

    @Test("the order of holders stays within a bound of their count, however often they progress")
    func orderIsCompacted() {
        let s = Subject(capacity: 1_000_000)
        #expect(s.set("a", 10) == [] && s.set("b", 10) == [])
        for _ in 0..<10_000 { s.budget.progressed("a") }
        #expect(s.budget.queued <= 2 * 2 + 16 + 1)
        for bytes in stride(from: 10_000, to: 1, by: -1) { _ = s.set("b", bytes) }
        #expect(s.budget.queued <= 2 * 2 + 16 + 1)
        #expect(s.set("c", 999_990) == ["a"], "the oldest to progress is still found first")
    }

    @Test("a holder released and back again has a new place: its old one in the order is skipped")
    func releasedAndBack() {
        let s = Subject(capacity: 100)
        #expect(s.set("a", 30) == [])
        #expect(s.set("b", 30) == [])
        #expect(s.set("a", 0) == [])
        #expect(s.set("a", 40) == [])
        #expect(s.set("c", 40) == ["b"])
    }

    @Test("a holder chosen is reprieved, first in line, when the write that passed the budget went before its close")
    func reprievedWhenRoomCameBack() {
        let s = Subject(capacity: 100)
        #expect(s.set("stalled", 60) == [])
        #expect(s.set("fast", 50) == ["stalled"])
        #expect(s.stillNeeded("stalled"), "still over: it goes")
        #expect(s.set("fast", 0) == [])  // written at once
        #expect(!s.stillNeeded("stalled") && !s.budget.isChosen("stalled"))
        #expect(s.budget.chosenCount == 0)
        #expect(s.set("other", 30) == [])
        #expect(s.set("next", 20) == ["stalled"], "first in line again")
        #expect(!s.stillNeeded("gone"))
    }

    @Test("a holder over the whole budget on its own is closed itself")
    func aloneOverTheBudget() {
        let s = Subject(capacity: 100)
        #expect(s.set("older", 30) == [])
        #expect(s.set("huge", 150) == ["huge"], "the older one is not closed for nothing")
        #expect(s.set("other", 10) == [])
        #expect(s.set("huge", 0) == [])
        #expect(s.budget.total == 40)
    }
}
