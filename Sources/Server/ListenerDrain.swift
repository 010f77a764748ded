import Synchronization

/// Stops every public listener at once when graceful shutdown begins. ServiceLifecycle tells
/// services to shut down one at a time, in reverse order, each once the one after it has
/// returned, and a listener returns only when its connections have drained: with extra ports
/// (`server.api_port`, `server.sse_port`) the others went on accepting, and their keep-alive
/// connections on taking requests, for as long as a slow request on the last one ran.
/// ``ShutdownStart``, told first, starts the drain; each listener then waits for its own
/// connections, all in parallel.
final class ListenerDrain: Sendable {
    private let state = Mutex<(started: Bool, stops: [@Sendable () -> Void])>((false, []))

    /// Registers a listener's stop (stop accepting, ask its connections to quiesce); run at
    /// once when the drain has already started.
    func register(_ stop: @escaping @Sendable () -> Void) {
        let late = state.withLock { state in
            if !state.started { state.stops.append(stop) }
            return state.started
        }
        if late { stop() }
    }

    /// Runs every registered stop, and each registered later at once.
    func start() {
        let stops = state.withLock { state in
            state.started = true
            defer { state.stops = [] }
            return state.stops
        }
        for stop in stops { stop() }
    }
}
