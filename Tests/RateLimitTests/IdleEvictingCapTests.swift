import Testing
@testable import RateLimit

/// A cap that gives a waiting connection's place (just opened, reading a head, or idle between
/// keep-alive requests) to a new one (the ops listener's: a first-come cap would let held
/// connections shut the liveness probe out).
@Suite struct IdleEvictingCapTests {
    /// The cap behind a reference: `#expect` cannot hold a mutation of a local value.
    final class Subject<ID: Hashable> {
        var cap: IdleEvictingCap<ID>
        init(capacity: Int) { cap = IdleEvictingCap(capacity: capacity) }
        func admit(_ id: ID) -> IdleEvictingCap<ID>.Decision { cap.admit(id) }
        func closed(_ id: ID) -> Bool { cap.closed(id) }
        func idle(_ ids: ID...) { for id in ids { cap.markIdle(id) } }
        func busy(_ ids: ID...) { for id in ids { cap.markBusy(id) } }
    }

    @Test("at the cap the connection waiting longest makes room, not the one that went idle last")
    func evictsOldestIdle() {
        let s = Subject<String>(capacity: 3)
        for id in ["a", "b", "c"] { #expect(s.admit(id) == .admit) }
        s.busy("a", "b", "c")
        s.idle("b", "a")
        s.idle("b")  // already idle: keeps its earlier place in the order
        #expect(s.admit("d") == .admitEvicting("b"))
        #expect(s.admit("e") == .admitEvicting("a"))
        #expect(s.cap.count == 3 && s.cap.idleCount == 2)
    }

    @Test("a connection that is not serving a request yet waits from admission: the oldest such one makes room")
    func evictsOldestSilent() {
        let s = Subject<Int>(capacity: 3)
        for id in 1...3 { #expect(s.admit(id) == .admit) }
        #expect(s.cap.idleCount == 3)
        // A flood of new connections evicts its own oldest ones, never one that is serving.
        s.busy(2)
        #expect(s.admit(4) == .admitEvicting(1))
        #expect(s.admit(5) == .admitEvicting(3))
        #expect(s.admit(6) == .admitEvicting(4))
        #expect(s.cap.count == 3 && s.cap.idleCount == 2)
    }

    @Test("with every place held by a connection serving a request a new one is refused")
    func refusesWhenNoneIdle() {
        let s = Subject<Int>(capacity: 2)
        #expect(s.admit(1) == .admit)
        #expect(s.admit(2) == .admit)
        s.busy(1, 2)
        #expect(s.admit(3) == .reject)
        #expect(s.cap.count == 2)
    }

    @Test("a connection serving a request again is never evicted")
    func busyIsNeverEvicted() {
        let s = Subject<Int>(capacity: 2)
        _ = s.admit(1)
        _ = s.admit(2)
        s.busy(1, 2)
        s.idle(1)
        s.busy(1)  // its next request is being served
        #expect(s.admit(3) == .reject)
        s.idle(2, 1)
        s.busy(2)
        #expect(s.admit(3) == .admitEvicting(1))
        s.busy(3)
        #expect(s.admit(4) == .reject)
    }

    @Test("an evicted connection's close releases nothing: its place went to the new one")
    func evictedCloseReleasesNothing() {
        let s = Subject<Int>(capacity: 2)
        _ = s.admit(1)
        _ = s.admit(2)
        s.busy(2)
        #expect(s.admit(3) == .admitEvicting(1))
        s.idle(1)  // late news from the evicted connection changes nothing
        #expect(!s.closed(1))
        s.busy(3)
        #expect(s.cap.count == 2 && s.cap.idleCount == 0)
        #expect(s.admit(4) == .reject)
        #expect(s.closed(3))
        #expect(!s.closed(3))
        #expect(s.admit(4) == .admit)
        #expect(s.closed(4))  // waiting, never served: its place is released all the same
        #expect(s.cap.count == 1 && s.cap.idleCount == 0)
    }

    @Test("connections that go idle and busy many times keep the order's memory bounded")
    func churnStaysBounded() {
        let s = Subject<Int>(capacity: 4)
        for id in 0..<4 { _ = s.admit(id) }
        s.busy(0, 1, 2, 3)
        for round in 0..<10_000 {
            s.idle(round % 4)
            s.busy(round % 4)
        }
        s.idle(2, 0)
        #expect(s.admit(9) == .admitEvicting(2))
        #expect(s.cap.queueLength <= 2 * 4 + 64)
    }
}
