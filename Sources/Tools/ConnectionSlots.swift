import NIOCore
import Synchronization

/// Requests in progress per backend (scheme, host, port), at most ``limit`` each: a request
/// past it waits, first come first served, for one to end, within its own deadline.
///
/// Without it the only bound on the connections to one backend was the calls in flight
/// (`limits.max_inflight`, 1,024): a slow backend was given a connection for every call
/// waiting on it. Pooled idle connections are not counted (they are capped apart, 4 a
/// backend): one backend has at most `limit` + 4 connections open. A connect a cancelled
/// call left behind (it runs on up to the connect timeout) keeps its request's place until
/// it ends (``SlotRelease``).
final class ConnectionSlots: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var active: [ConnectionPool.Key: Int] = [:]
        var waiting: [ConnectionPool.Key: [Waiter]] = [:]
        var nextID: UInt64 = 0
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Takes a place for `key`, waiting for one until `deadline`. `.timedOut` when none came
    /// free in time, or the task was cancelled meanwhile; otherwise the caller must
    /// ``release(_:)`` it.
    func acquire(_ key: ConnectionPool.Key, deadline: NIODeadline, on loop: any EventLoop) async -> Acquired {
        let id: UInt64? = state.withLock { s in
            if s.active[key, default: 0] < limit {
                s.active[key, default: 0] += 1
                return nil
            }
            s.nextID += 1
            return s.nextID
        }
        guard let id else { return .atOnce }
        let got = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                // Checked under the lock the cancel handler takes: cancelled before this, the
                // handler found no waiter, and the request must not wait.
                let queued = state.withLock { s -> Bool? in
                    if Task.isCancelled { return nil }
                    if s.active[key, default: 0] < limit {
                        s.active[key, default: 0] += 1
                        return false
                    }
                    s.waiting[key, default: []].append(Waiter(id: id, continuation: continuation))
                    return true
                }
                switch queued {
                case nil: continuation.resume(returning: false)
                case false?: continuation.resume(returning: true)
                case true?:
                    // Fires harmlessly (finding no waiter) if a place came first.
                    loop.scheduleTask(deadline: deadline) { self.giveUp(key, id) }
                }
            }
        } onCancel: {
            giveUp(key, id)
        }
        return got ? .afterWaiting : .timedOut
    }

    enum Acquired { case atOnce, afterWaiting, timedOut }

    /// Hands the place to the longest waiting request for `key`, or frees it.
    func release(_ key: ConnectionPool.Key) {
        let next = state.withLock { s -> Waiter? in
            if var queue = s.waiting[key], !queue.isEmpty {
                let first = queue.removeFirst()
                s.waiting[key] = queue.isEmpty ? nil : queue
                return first
            }
            let left = s.active[key, default: 1] - 1
            s.active[key] = left > 0 ? left : nil
            return nil
        }
        next?.continuation.resume(returning: true)
    }

    /// Stops `id` waiting (its deadline passed, or its task was cancelled), if it still is.
    private func giveUp(_ key: ConnectionPool.Key, _ id: UInt64) {
        let waiter = state.withLock { s -> Waiter? in
            guard var queue = s.waiting[key], let index = queue.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = queue.remove(at: index)
            s.waiting[key] = queue.isEmpty ? nil : queue
            return waiter
        }
        waiter?.continuation.resume(returning: false)
    }

    /// Requests in progress and waiting, for `key` (tests).
    func counts(_ key: ConnectionPool.Key) -> (active: Int, waiting: Int) {
        state.withLock { ($0.active[key] ?? 0, $0.waiting[key]?.count ?? 0) }
    }
}

/// One request's place under `tools.max_backend_connections`, released exactly once: when the
/// request ends, unless its call gave up while connecting. Then the connect runs on (up to its
/// timeout, holding a socket), and the place is released when it ends: a call cancelled over
/// and over must not start connects past the cap.
final class SlotRelease: Sendable {
    private enum State { case held, connectEnded, abandoned, released }
    private let state = Mutex(State.held)
    private let release: @Sendable () -> Void

    init(_ release: @escaping @Sendable () -> Void) {
        self.release = release
    }

    /// The call gave up on its connect: the place goes with the connect.
    func abandonConnect() {
        state.withLock { if $0 == .held { $0 = .abandoned } }
    }

    /// The connect ended (connected, failed or timed out). Returns whether the call had given
    /// up on it (its place is released now, and a connected channel must be closed).
    @discardableResult
    func connectEnded() -> Bool {
        let abandoned = state.withLock { state -> Bool in
            switch state {
            case .abandoned: state = .released; return true
            case .held: state = .connectEnded; return false
            case .connectEnded, .released: return false
            }
        }
        if abandoned { release() }
        return abandoned
    }

    /// The request is over (its answer, an error, or the cancel).
    func requestEnded() {
        let now = state.withLock { state -> Bool in
            switch state {
            case .held, .connectEnded: state = .released; return true
            case .abandoned, .released: return false
            }
        }
        if now { release() }
    }
}
