import NIOCore

/// Flushes, in one loop task, every connection of an event loop whose response ended since
/// that task was queued (by the first of them, so after the tasks queued before it). The
/// requests read in one loop tick are answered in that tick's tasks, and their responses
/// then leave together.
///
/// Why: a flush per response woke the client's thread once per response (the kernel's
/// wake-up cost more than the request's own work); in a burst, the later sends find it
/// awake. And one task per tick, not one per connection: 1.5 % of a `tools/call`'s CPU
/// (`bench/ab.sh`).
///
/// One per loop and listener (``EventLoopTaskExecutor/flusher``), shared by the listener's
/// connections on that loop, and used only there.
final class ResponseFlusher {
    private let loop: any EventLoop
    /// The dispatchers whose flush waits for the queued task.
    private var waiting: [RequestDispatcher] = []
    /// The ones being flushed: kept between ticks for its storage. A response that ends
    /// during the flush (a pipelined request answered once the client took the one before)
    /// joins `waiting`, and a task of its own.
    private var flushing: [RequestDispatcher] = []

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// Flushes `dispatcher` (``RequestDispatcher/flushNow()``) once the loop has run the tasks
    /// already queued, with the others that end before then.
    func flushSoon(_ dispatcher: RequestDispatcher) {
        waiting.append(dispatcher)
        if waiting.count == 1 {
            loop.assumeIsolated().execute { [self] in flushAll() }
        }
    }

    private func flushAll() {
        swap(&waiting, &flushing)
        for dispatcher in flushing { dispatcher.flushNow() }
        flushing.removeAll(keepingCapacity: true)
    }
}
