import CTaskFrames

/// Grows the current task's frame allocator once, up front, so that the async frames of
/// the work that follows come from one allocation instead of one each.
///
/// Swift's task allocator hands out async frames from slabs: the first (under 1 KiB) sits
/// in the task itself, and a frame that does not fit gets a new slab from `malloc`. An
/// emptied slab is kept for the frames that follow and freed with the task. A request's
/// task allocates about 17 KiB of frames (the router, the middleware, the transport, the
/// dispatcher), so it made about 12 `malloc` calls for them (uprobes: 100 → 88 per
/// `tools/list` with this), most of them above glibc's per-thread cache. Allocating one large block and freeing it at once
/// leaves one empty slab of that size, which the frames then fill.
///
/// If the runtime ever stops keeping emptied slabs, this only costs one allocation.
public enum TaskFrames {
    /// Enough for the frames of any request on the stateless path: its task holds this
    /// until it ends (a long tool call holds it while it runs; an SSE stream is written
    /// from a task of its own).
    public static let requestBytes = 16 * 1024

    /// Call only from code a task runs (an async function, or synchronous code it calls).
    public static func reserve(_ bytes: Int) {
        c_task_frames_reserve(bytes)
    }
}
