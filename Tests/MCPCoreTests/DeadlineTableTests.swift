import Synchronization
import Testing

@testable import MCPCore

/// The shared tool-call deadline timer (2025-11-25 basic/lifecycle.mdx "Timeouts": requests
/// get a timeout; the dispatcher turns an expired one into a cancellation), on a test clock.
@Suite struct DeadlineTableTests {
    @Test func firstDeadlineArmsTheTimerAndLaterOnesDoNot() {
        var table = DeadlineTable<String>()
        let r1 = table.add(deadline: 100, action: "a").rearm
        #expect(r1 == 100)
        let r2 = table.add(deadline: 150, action: "b").rearm
        #expect(r2 == nil)
        let r3 = table.add(deadline: 100, action: "c").rearm
        #expect(r3 == nil)
        #expect(table.armedAt == 100)
    }

    @Test func anEarlierDeadlineRearmsTheTimer() {
        var table = DeadlineTable<String>()
        _ = table.add(deadline: 100, action: "long")
        let r4 = table.add(deadline: 40, action: "short").rearm
        #expect(r4 == 40)
        #expect(table.armedAt == 40)
    }

    @Test func firingExpiresWhatIsDueAndRearmsForTheEarliestRest() {
        var table = DeadlineTable<String>()
        _ = table.add(deadline: 100, action: "a")
        _ = table.add(deadline: 300, action: "c")
        _ = table.add(deadline: 200, action: "b")
        let first = table.fire(now: 150)
        #expect(first.expired == ["a"])
        #expect(first.rearm == 200)
        let second = table.fire(now: 300)
        #expect(Set(second.expired) == ["b", "c"])
        #expect(second.rearm == nil)
        #expect(table.armedAt == nil)
        #expect(table.count == 0)
    }

    @Test func aRemovedDeadlineNeverFires() {
        var table = DeadlineTable<String>()
        let (id, _) = table.add(deadline: 100, action: "finished")
        _ = table.add(deadline: 120, action: "running")
        let removed = table.remove(id)
        let again = table.remove(id)
        #expect(removed)
        #expect(!again)
        let fired = table.fire(now: 110)
        #expect(fired.expired.isEmpty)
        #expect(fired.rearm == 120)
    }

    @Test func anEarlyFireRearmsWithoutExpiring() {
        var table = DeadlineTable<String>()
        _ = table.add(deadline: 100, action: "a")
        let fired = table.fire(now: 99)
        #expect(fired.expired.isEmpty)
        #expect(fired.rearm == 100)
    }

    @Test func afterTheTableEmptiesTheNextDeadlineArmsAgain() {
        var table = DeadlineTable<String>()
        let (id, _) = table.add(deadline: 100, action: "a")
        table.remove(id)
        // The timer still fires once at 100 and finds nothing.
        let empty = table.fire(now: 100)
        #expect(empty.expired.isEmpty && empty.rearm == nil)
        let r5 = table.add(deadline: 500, action: "b").rearm
        #expect(r5 == 500)
    }

    /// The real timer: an entry fires once after its timeout, a cancelled one never.
    @Test func dispatchTimerFiresDueEntriesOnly() async throws {
        let deadlines = ToolDeadlines()
        let fired = FiredLog()
        _ = deadlines.schedule(after: .milliseconds(30)) { fired.add("due") }
        let cancelled = deadlines.schedule(after: .milliseconds(10)) { fired.add("cancelled") }
        deadlines.cancel(cancelled)
        for _ in 0..<200 where fired.names.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(fired.names == ["due"])
        #expect(deadlines.pending == 0)
    }
}

private final class FiredLog: Sendable {
    private let log = Mutex<[String]>([])
    func add(_ name: String) { log.withLock { $0.append(name) } }
    var names: [String] { log.withLock { $0 } }
}
