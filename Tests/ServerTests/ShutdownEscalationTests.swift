import Testing

@testable import MCPServerKit

/// Issue 4 §8: the first SIGTERM/SIGINT drains, a second (or the end of the grace) cancels,
/// a third (or the end of the cancellation bound) exits at once; README "Graceful shutdown"
/// documents the statuses.
@Suite struct ShutdownEscalationTests {
    @Test("a drain that finishes by itself exits 0")
    func drainFinishes() {
        var escalation = ShutdownEscalation()
        #expect(escalation.signal(15) == .drain)
        #expect(!escalation.isCancelling)
        #expect(escalation.finishedStatus == 0)
    }

    @Test("a second signal cancels; the exit status is 128 + its number")
    func secondSignalCancels() {
        var escalation = ShutdownEscalation()
        escalation.signal(15)
        #expect(escalation.signal(2) == .cancel)
        #expect(escalation.isCancelling)
        #expect(escalation.finishedStatus == 130)
        // The grace that runs out later changes nothing.
        #expect(escalation.graceOver() == .none)
        #expect(escalation.finishedStatus == 130)
    }

    @Test("the end of the grace cancels, and the exit status stays 0")
    func graceCancels() {
        var escalation = ShutdownEscalation()
        escalation.signal(15)
        #expect(escalation.graceOver() == .cancel)
        #expect(escalation.finishedStatus == 0)
    }

    @Test("a signal during cancellation exits at once with 128 + its number")
    func signalDuringCancellationExits() {
        var escalation = ShutdownEscalation()
        escalation.signal(15)
        escalation.signal(15)
        #expect(escalation.signal(2) == .exit(status: 130))
        #expect(escalation.signal(15) == .none)
        #expect(escalation.cancellationBoundOver() == .none)

        var afterGrace = ShutdownEscalation()
        afterGrace.signal(15)
        afterGrace.graceOver()
        #expect(afterGrace.signal(15) == .exit(status: 143))
    }

    @Test("a cancellation that outlasts its bound exits with EX_SOFTWARE")
    func cancellationBound() {
        var escalation = ShutdownEscalation()
        escalation.signal(15)
        escalation.graceOver()
        #expect(escalation.cancellationBoundOver() == .exit(status: ShutdownEscalation.abandonedStatus))
        #expect(ShutdownEscalation.abandonedStatus == 70)
    }

    @Test("deadlines that fire out of turn do nothing")
    func deadlinesOutOfTurn() {
        var escalation = ShutdownEscalation()
        #expect(escalation.graceOver() == .none)
        #expect(escalation.cancellationBoundOver() == .none)
        escalation.signal(15)
        #expect(escalation.cancellationBoundOver() == .none)
        #expect(escalation.signal(15) == .cancel)
    }
}
