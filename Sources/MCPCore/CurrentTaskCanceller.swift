import Synchronization

/// Cancels the task that is running a tool call, from outside it (the call's deadline, the
/// connection closing), and only while the call runs.
///
/// A call that runs in its request's own task (``MCPSession/callsInline``) has no `Task`
/// handle to cancel, only the runtime's reference to the current task, which stays valid
/// while that task runs. So the reference is taken inside the call, kept under a lock, and
/// dropped (``finish()``) before the call returns: a cancel that comes later finds nothing.
final class CurrentTaskCanceller: Sendable {
    private let task: Mutex<UnsafeCurrentTask?>

    /// Call from the task to be cancelled.
    init() {
        task = Mutex(withUnsafeCurrentTask { $0 })
    }

    func cancel() {
        task.withLock { $0?.cancel() }
    }

    func finish() {
        task.withLock { $0 = nil }
    }
}
