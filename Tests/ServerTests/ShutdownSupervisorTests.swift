import Logging
import Synchronization
import Testing

@testable import MCPServerKit

/// The supervisor carries out ``ShutdownEscalation`` on real tasks: the services stand in for
/// the ServiceGroup, an `AsyncStream` for the signals, a recorder for `_exit`.
@Suite struct ShutdownSupervisorTests {
    /// Services that drain on request, or never, and honour cancellation, or not.
    final class FakeServices: Sendable {
        let drains: Bool
        let honoursCancellation: Bool
        let drained = Mutex(false)
        let cancelled = Mutex(false)
        let released = Mutex(false)

        init(drains: Bool, honoursCancellation: Bool = true) {
            self.drains = drains
            self.honoursCancellation = honoursCancellation
        }

        func drain() async { drained.withLock { $0 = true } }

        func run() async throws {
            guard honoursCancellation else {
                // Waits in a task that cancellation does not reach (as a stuck call would).
                let stuck = Task.detached { [self] in
                    while !released.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
                }
                await withTaskCancellationHandler { await stuck.value } onCancel: { cancelled.withLock { $0 = true } }
                return
            }
            while !(drains && drained.withLock { $0 }) {
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    struct Run {
        let status: Result<Int32, any Error>
        let exits: [Int32]
    }

    func supervise(_ services: FakeServices, grace: Duration = .seconds(30), bound: Duration = .seconds(30),
                   signals: @escaping @Sendable (AsyncStream<Int32>.Continuation) async -> Void) async -> Run {
        let exits = Mutex<[Int32]>([])
        let supervisor = ShutdownSupervisor(grace: grace, cancellationBound: bound, logger: Logger(label: "test")) { status in
            exits.withLock { $0.append(status) }
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let sender = Task { await signals(continuation) }
        let result: Result<Int32, any Error>
        do {
            result = .success(try await supervisor.run(signals: stream, drain: { await services.drain() }, services: { try await services.run() }))
        } catch {
            result = .failure(error)
        }
        sender.cancel()
        services.released.withLock { $0 = true }
        return Run(status: result, exits: exits.withLock { $0 })
    }

    @Test("the first signal drains; services that finish return status 0")
    func drain() async throws {
        let run = await supervise(FakeServices(drains: true)) { $0.yield(15) }
        #expect(try run.status.get() == 0)
        #expect(run.exits.isEmpty)
    }

    @Test("a second signal cancels services that would hold the drain; status 128 + its number")
    func secondSignal() async throws {
        let started = ContinuousClock.now
        let run = await supervise(FakeServices(drains: false)) { signals in
            signals.yield(15)
            try? await Task.sleep(for: .milliseconds(50))
            signals.yield(2)
        }
        #expect(try run.status.get() == 130)
        #expect(run.exits.isEmpty)
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test("the end of the grace cancels; status 0")
    func graceOver() async throws {
        let run = await supervise(FakeServices(drains: false), grace: .milliseconds(50)) { $0.yield(15) }
        #expect(try run.status.get() == 0)
        #expect(run.exits.isEmpty)
    }

    @Test("services that ignore cancellation are abandoned at the bound: exit 70, no crash")
    func cancellationBound() async throws {
        let services = FakeServices(drains: false, honoursCancellation: false)
        let run = await supervise(services, grace: .milliseconds(20), bound: .milliseconds(100)) { $0.yield(15) }
        #expect(try run.status.get() == 70)
        #expect(run.exits == [70])
        #expect(services.cancelled.withLock { $0 })
    }

    @Test("a signal during a stuck cancellation exits at once")
    func thirdSignal() async throws {
        let services = FakeServices(drains: false, honoursCancellation: false)
        let run = await supervise(services, bound: .seconds(30)) { signals in
            signals.yield(15)
            try? await Task.sleep(for: .milliseconds(20))
            signals.yield(15)
            try? await Task.sleep(for: .milliseconds(50))
            signals.yield(2)
        }
        #expect(try run.status.get() == 130)
        #expect(run.exits == [130])
    }

    @Test("an error of the services is rethrown, unless it is the cancellation asked for")
    func errors() async throws {
        struct Failure: Error {}
        let supervisor = ShutdownSupervisor(grace: .seconds(30), logger: Logger(label: "test")) { _ in }
        await #expect(throws: Failure.self) {
            try await supervisor.run(signals: AsyncStream<Int32> { _ in }, drain: {}, services: { throw Failure() })
        }
        let (signals, continuation) = AsyncStream.makeStream(of: Int32.self)
        continuation.yield(15)
        continuation.yield(15)
        let status = try await supervisor.run(signals: signals, drain: {}, services: {
            try await Task.sleep(for: .seconds(60))
        })
        #expect(status == 143)
    }
}
