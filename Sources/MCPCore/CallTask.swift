import Synchronization

/// The task of a tool call that runs in a task of its own, made only once the call is
/// admitted, and cancellable before it exists.
///
/// The call is registered with its session (for `notifications/cancelled`) and its deadline
/// before it starts, so that a refused call never runs. A cancel that comes in between (the
/// client's, the deadline's, the connection closing) is remembered, and the task is then
/// never started: a cancelled task would still run its handler up to the handler's first
/// cancellation check, far enough for a writing tool to act.
final class CallTask: Sendable {
    typealias Outcome = (ToolResult, ToolCallOutcome)

    private enum State {
        case waiting
        case running(Task<Outcome, Never>)
        case cancelled
    }

    private let state = Mutex(State.waiting)

    /// Starts the call's task on the request's executor; nil if the call was cancelled first.
    func start(_ operation: @escaping @Sendable () async -> Outcome) -> Task<Outcome, Never>? {
        state.withLock { state in
            guard case .waiting = state else { return nil }
            let task = Task(executorPreference: MCPDispatcher.requestExecutor, operation: operation)
            state = .running(task)
            return task
        }
    }

    func cancel() {
        let task: Task<Outcome, Never>? = state.withLock { state in
            switch state {
            case .waiting:
                state = .cancelled
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
