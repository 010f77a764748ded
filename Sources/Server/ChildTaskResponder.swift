import Hummingbird

/// Runs the router (middleware chain and route handler) in a child task, so its async frames
/// are not kept by the connection's task for as long as the connection lives.
///
/// Swift's task allocator keeps every slab a task has ever used until the task ends. The
/// connection task lives as long as the keep-alive connection or the SSE stream, and the
/// middleware chain is its deepest point (≈ 14 KiB of frames in 1 KiB slabs), so without
/// this every open connection kept that peak after its first request. The child's slabs are
/// freed when the response has been produced; the body (an SSE pump) is then written from
/// the connection task at a shallow depth. An unstructured task rather than `async let`: an
/// `async let` child lives in the parent's allocator (≈ 2 KiB more per connection, measured).
/// It inherits priority and task-locals; cancellation is forwarded by hand. (No task executor
/// preference is set on connection tasks, so none is lost.)
struct ChildTaskResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context: Sendable {
    typealias Context = Inner.Context
    let inner: Inner

    init(_ inner: Inner) {
        self.inner = inner
    }

    @Sendable func respond(to request: Request, context: Context) async throws -> Response {
        let inner = self.inner
        let task = Task { try await inner.respond(to: request, context: context) }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}
