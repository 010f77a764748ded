import Logging

/// Runs the services and steers their shutdown by ``ShutdownEscalation``: the first signal
/// drains, a second cancels, and a process that still has not finished is ended with a log
/// line and an exit status.
///
/// It watches SIGTERM and SIGINT itself instead of handing them to the `ServiceGroup`:
/// ServiceLifecycle 2.13 stops listening to its graceful-shutdown signals after the first one
/// (a repeated signal did nothing), a signal cannot be both a graceful-shutdown and a
/// cancellation signal there, and a cancellation that outlasts `maximumCancellationDuration`
/// is a `fatalError`: a crash with a backtrace, not an exit status an init system can read.
/// So the group is given no signals and no deadlines, and this type owns all three steps.
public struct ShutdownSupervisor: Sendable {
    /// `server.shutdown_grace`: how long the graceful drain may take.
    public var grace: Duration
    /// How long cancellation may take before the process is abandoned.
    public var cancellationBound: Duration
    let logger: Logger
    /// Ends the process (`_exit`: whatever is stuck may hold a lock an exit handler needs).
    let exit: @Sendable (Int32) -> Void

    public init(grace: Duration, cancellationBound: Duration = .seconds(5), logger: Logger, exit: @escaping @Sendable (Int32) -> Void) {
        self.grace = grace
        self.cancellationBound = cancellationBound
        self.logger = logger
        self.exit = exit
    }

    private enum Event: Sendable {
        case signal(Int32)
        case graceOver
        case cancellationBoundOver
        case finished((any Error)?)
    }

    /// Runs `services` until they return; returns the status to exit with. Rethrows what
    /// they throw, unless it is the `CancellationError` of a cancellation asked for here.
    ///
    /// - Parameters:
    ///   - signals: the numbers of the shutdown signals as they arrive.
    ///   - drain: starts the graceful drain (`ServiceGroup.triggerGracefulShutdown`).
    ///   - services: runs the services (`ServiceGroup.run`); cancelled to cancel them.
    public func run(
        signals: some AsyncSequence<Int32, Never> & Sendable,
        drain: @escaping @Sendable () async -> Void,
        services: @escaping @Sendable () async throws -> Void
    ) async throws -> Int32 {
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        // Unstructured so that it alone can be cancelled.
        let work = Task {
            do {
                try await services()
                continuation.yield(.finished(nil))
            } catch {
                continuation.yield(.finished(error))
            }
        }
        let (grace, bound) = (self.grace, self.cancellationBound)
        return try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask {
                    for await number in signals { continuation.yield(.signal(number)) }
                }
                var escalation = ShutdownEscalation()
                for await event in events {
                    let action: ShutdownEscalation.Action
                    switch event {
                    case .signal(let number): action = escalation.signal(number)
                    case .graceOver: action = escalation.graceOver()
                    case .cancellationBoundOver: action = escalation.cancellationBoundOver()
                    case .finished(let error?) where !(escalation.isCancelling && error is CancellationError):
                        throw error
                    case .finished:
                        return escalation.finishedStatus
                    }
                    log(action, after: event)
                    switch action {
                    case .none:
                        break
                    case .drain:
                        group.addTask { await drain() }
                        group.addTask {
                            guard (try? await Task.sleep(for: grace)) != nil else { return }
                            continuation.yield(.graceOver)
                        }
                    case .cancel:
                        work.cancel()
                        group.addTask {
                            guard (try? await Task.sleep(for: bound)) != nil else { return }
                            continuation.yield(.cancellationBoundOver)
                        }
                    case .exit(let status):
                        exit(status)
                        return status
                    }
                }
                return escalation.finishedStatus
            }
        } onCancel: {
            work.cancel()
        }
    }

    /// One notice per escalation.
    private func log(_ action: ShutdownEscalation.Action, after event: Event) {
        switch (action, event) {
        case (.drain, .signal(let number)):
            logger.notice("\(Self.name(of: number)): shutting down gracefully; a second SIGTERM or SIGINT stops at once",
                          metadata: ["grace": "\(Self.text(grace))"])
        case (.cancel, .signal(let number)):
            logger.notice("\(Self.name(of: number)) again: cancelling what is still running",
                          metadata: ["status": "\(128 + number)"])
        case (.cancel, _):
            logger.notice("shutdown grace over: cancelling what is still running", metadata: ["grace": "\(Self.text(grace))"])
        case (.exit(let status), .signal(let number)):
            logger.critical("\(Self.name(of: number)) during cancellation: exiting at once", metadata: ["status": "\(status)"])
        case (.exit(let status), _):
            logger.critical("still running \(Self.text(cancellationBound)) after cancellation (something ignores it): exiting",
                            metadata: ["status": "\(status)"])
        default:
            break
        }
    }

    /// `30s`, `0.25s`: as the configuration writes durations.
    static func text(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return attoseconds == 0 ? "\(seconds)s" : "\(Double(seconds) + Double(attoseconds) / 1e18)s"
    }

    static func name(of signal: Int32) -> String {
        switch signal {
        case 2: "SIGINT"
        case 15: "SIGTERM"
        default: "signal \(signal)"
        }
    }
}
