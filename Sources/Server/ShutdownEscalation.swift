/// How a shutdown escalates, one step per signal or deadline (issue 4 §8):
///
/// 1. the first SIGTERM or SIGINT starts the graceful drain, which has `server.shutdown_grace`;
/// 2. a second signal, or the end of the grace, cancels what is left (connections closed,
///    tasks cancelled), which has a short bound;
/// 3. a signal during that cancellation, or the end of the bound, exits at once.
///
/// The exit status tells an operator (or an init system) how it ended: 0 for a drain that
/// finished by itself or at the grace, as before; 128 + the signal's number (130 for SIGINT,
/// 143 for SIGTERM) for one cut short by a signal, as a shell reports a process that signal
/// ended; ``abandonedStatus`` when cancellation did not finish within its bound, which means
/// something ignores cancellation.
///
/// Pure: ``ShutdownSupervisor`` feeds it the events and carries out the actions.
///
/// ```swift
/// var escalation = ShutdownEscalation()
/// escalation.signal(15)               // .drain
/// escalation.signal(2)                // .cancel
/// escalation.finishedStatus           // 130
/// ```
public struct ShutdownEscalation: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case none
        /// Start the graceful drain and arm the grace deadline.
        case drain
        /// Cancel what is still running and arm the cancellation bound.
        case cancel
        /// Exit the process at once, with this status.
        case exit(status: Int32)
    }

    enum State: Sendable, Equatable {
        case running
        case draining
        /// `status` is what the process exits with once cancellation has finished.
        case cancelling(status: Int32)
        case exited
    }

    /// The exit status of a process abandoned by a cancellation that did not finish in time:
    /// EX_SOFTWARE (sysexits.h), an internal error, which is what ignoring cancellation is.
    public static let abandonedStatus: Int32 = 70

    private(set) var state = State.running

    public init() {}

    /// SIGTERM or SIGINT (`number` is the signal's).
    @discardableResult
    public mutating func signal(_ number: Int32) -> Action {
        switch state {
        case .running:
            state = .draining
            return .drain
        case .draining:
            state = .cancelling(status: 128 + number)
            return .cancel
        case .cancelling:
            state = .exited
            return .exit(status: 128 + number)
        case .exited:
            return .none
        }
    }

    /// The grace has run out.
    @discardableResult
    public mutating func graceOver() -> Action {
        guard state == .draining else { return .none }
        state = .cancelling(status: 0)
        return .cancel
    }

    /// The cancellation bound has run out.
    @discardableResult
    public mutating func cancellationBoundOver() -> Action {
        guard case .cancelling = state else { return .none }
        state = .exited
        return .exit(status: Self.abandonedStatus)
    }

    /// True once cancellation has been asked for (errors of cancelled services are expected).
    public var isCancelling: Bool {
        if case .cancelling = state { return true }
        return false
    }

    /// The status to exit with now that every service has returned.
    public var finishedStatus: Int32 {
        if case .cancelling(let status) = state { return status }
        return 0
    }
}
