import Synchronization
import Testing
@testable import MCPCore

/// The session's table of calls in flight keeps its first call in a slot and the rest in a
/// dictionary: every operation must treat a call the same wherever it sits (2025-11-25
/// basic/utilities/cancellation.mdx: a cancel names the request id it cancels; unknown ids
/// are ignored).
@Suite struct InFlightCallsTests {
    /// Counts how often each id's canceller ran.
    final class Cancels: Sendable {
        private let counts = Mutex([JSONRPCID: Int]())
        func call(_ id: JSONRPCID) -> MCPSession.InFlightCall {
            MCPSession.InFlightCall(cancel: { self.counts.withLock { $0[id, default: 0] += 1 } })
        }
        subscript(_ id: JSONRPCID) -> Int { counts.withLock { $0[id] ?? 0 } }
    }

    @Test func slotAndDictionaryHoldCallsAlike() {
        var table = MCPSession.InFlightCalls()
        let cancels = Cancels()
        let ids: [JSONRPCID] = [.int(1), .string("two"), .int(3)]
        for id in ids { table.insert(id, cancels.call(id)) }
        #expect(table.count == 3)
        for id in ids { #expect(table.contains(id)) }
        #expect(!table.contains(.int(2)))

        // A cancel reaches the call in the slot and one in the dictionary, and marks it.
        table.markCancelled(.int(1))?()
        table.markCancelled(.int(3))?()
        #expect(table.markCancelled(.int(9)) == nil)
        #expect(cancels[.int(1)] == 1 && cancels[.int(3)] == 1 && cancels[.string("two")] == 0)
        #expect(table.remove(.int(1))?.cancelledByClient == true)
        #expect(table.remove(.string("two"))?.cancelledByClient == false)
        #expect(table.remove(.int(1)) == nil)
        #expect(table.count == 1 && table.contains(.int(3)))

        // The freed slot is taken again, and an id may come back once it has left.
        table.insert(.int(1), cancels.call(.int(1)))
        #expect(table.count == 2 && table.contains(.int(1)))
        #expect(table.remove(.int(1))?.cancelledByClient == false)
    }

    @Test func cancelAllReachesEveryCall() {
        var table = MCPSession.InFlightCalls()
        let cancels = Cancels()
        let ids: [JSONRPCID] = [.int(1), .int(2), .string("x")]
        for id in ids { table.insert(id, cancels.call(id)) }
        for cancel in table.markAllCancelled() { cancel() }
        for id in ids {
            #expect(cancels[id] == 1)
            #expect(table.remove(id)?.cancelledByClient == true)
        }
        #expect(table.count == 0)
        #expect(table.markAllCancelled().isEmpty)
    }

    /// Through the session: a duplicate id is refused wherever the first one sits, the cap
    /// counts both places, and a closed session refuses new calls.
    @Test func sessionTracksThroughTheTable() {
        let session = MCPSession(transport: "test", maxInFlight: 2)
        let cancels = Cancels()
        #expect(session.track(.int(1), cancel: cancels.call(.int(1)).cancel) == .tracked)
        #expect(session.track(.int(1), cancel: {}) == .duplicate)
        #expect(session.track(.int(2), cancel: cancels.call(.int(2)).cancel) == .tracked)
        #expect(session.track(.int(2), cancel: {}) == .duplicate)
        #expect(session.track(.int(3), cancel: {}) == .full)
        #expect(session.inFlightCount == 2)
        session.cancel(.int(2))
        #expect(cancels[.int(2)] == 1)
        #expect(session.untrack(.int(2)))
        #expect(!session.untrack(.int(1)))
        #expect(session.inFlightCount == 0)
        #expect(session.track(.int(4), cancel: cancels.call(.int(4)).cancel) == .tracked)
        session.cancelAll()
        #expect(cancels[.int(4)] == 1)
        #expect(session.track(.int(5), cancel: {}) == .closed)
    }
}
