import Synchronization

/// What can end one tool call early, in one object per call: the client's
/// `notifications/cancelled`, the connection closing, and the call's deadline, which must
/// also be told apart from the others (a timeout is answered as such).
///
/// One object, so that the closures the session and the deadline table keep each capture a
/// single reference: with a flag, a canceller and an enum of the two, every call paid for
/// four allocations (the flag, the canceller and both closures' contexts).
///
/// A call runs either in its request's own task (``MCPSession/callsInline``), which has no
/// `Task` handle, only the runtime's reference to the current task: valid while that task
/// runs, so it is taken inside the call, kept under the lock and dropped by ``finish()``
/// before the call returns; or in a task of its own, made only once the call is admitted
/// (``start(_:)``). A cancel that comes before that task exists is remembered, and the task
/// is then never started: a cancelled task would still run its handler up to the handler's
/// first cancellation check, far enough for a writing tool to act.
final class CallControl: Sendable {
    typealias Outcome = (ToolResult, ToolCallOutcome)

    private enum Work {
        case inline(UnsafeCurrentTask?)
        case waiting
        case running(Task<Outcome, Never>)
        case cancelled
    }

    private struct State {
        var work: Work
        var deadlineFired = false
    }

    private let state: Mutex<State>

    private init(_ work: sending Work) {
        state = Mutex(State(work: work))
    }

    /// For a call that runs in the calling task; make it from that task.
    static func inline() -> CallControl {
        CallControl(.inline(withUnsafeCurrentTask { $0 }))
    }

    /// For a call that runs in a task of its own, started by ``start(_:)``.
    static func ownTask() -> CallControl {
        CallControl(.waiting)
    }

    /// Starts the call's task on the request's executor; nil if the call was cancelled first.
    func start(_ operation: @escaping @Sendable () async -> Outcome) -> Task<Outcome, Never>? {
        state.withLock { state in
            guard case .waiting = state.work else { return nil }
            let task = Task(executorPreference: MCPDispatcher.requestExecutor, operation: operation)
            state.work = .running(task)
            return task
        }
    }

    /// The client cancelled, or its connection closed.
    func cancel() { cancel(deadline: false) }

    /// The call's deadline passed: cancel it, and remember why.
    func deadlineReached() { cancel(deadline: true) }

    /// Whether the deadline, not the client, ended the call.
    var deadlineFired: Bool { state.withLock { $0.deadlineFired } }

    /// The call is over: nothing may cancel the request's task for it any more.
    func finish() {
        state.withLock { state in
            if case .inline = state.work { state.work = .inline(nil) }
        }
    }

    private func cancel(deadline: Bool) {
        let task: Task<Outcome, Never>? = state.withLock { state in
            if deadline { state.deadlineFired = true }
            switch state.work {
            case .inline(let current):
                // Under the lock: `finish()` drops the reference before its task ends.
                current?.cancel()
                return nil
            case .waiting:
                state.work = .cancelled
                return nil
            case .running(let task):
                return task
            case .cancelled:
                return nil
            }
        }
        task?.cancel()
    }
}
