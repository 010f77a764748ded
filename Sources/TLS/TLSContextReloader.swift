import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Holds the current server context and replaces it when the certificate files change.
///
/// `current` is read on every accepted connection (a lock-protected reference read: a few
/// nanoseconds). `reload()` builds a complete new context (≈ 0.65 ms) *before* taking the lock,
/// so a failed reload (half-written file, key not matching the new certificate yet) leaves the
/// old context serving; connections already open keep the context they started with.
///
/// `run()` polls the files' (inode, size, mtime, ctime, mode, owner) every `pollInterval`.
/// Replacing a file by write-then-rename changes the inode, so it is seen; a `chmod` or `chown`
/// that mends a reload refused for permissions changes the ctime, so it is retried without a
/// SIGHUP; replacing the certificate and the key one after the other may fail once (mismatch)
/// and succeeds at the poll after the second file lands.
///
/// A reload refuses a leaf certificate outside its validity window (expired, or not valid
/// yet): the one serving may still be good. One not valid yet is tried again when it becomes
/// valid, not at every poll (which logged and counted a failure every few seconds). Reloads
/// run one at a time, so a SIGHUP and a poll cannot race and store the older build last.
///
/// With session tickets on, the context is also rebuilt every ``ticketKeyLifetime``: OpenSSL
/// makes fresh random ticket keys per `SSL_CTX` and never rotates them, so rebuilding is what
/// rotates them (tickets from before the rotation no longer resume; a full handshake follows).
/// A rebuild reads the files: while they do not load, the keys in use stay, and the rotation
/// is tried again (and counted as a failed reload) each lifetime; the tickets they sealed
/// expire an hour after issue all the same (``TLSContext/ticketLifetimeSeconds``).
public final class TLSContextReloader: Sendable {
    public typealias Observer = @Sendable (Result<TLSContext, TLSError>) -> Void

    private struct State {
        var context: TLSContext
        /// Fingerprint of the files the current context was built from (or last tried).
        var fingerprint: [FileFingerprint?]
        var builtAt: ContinuousClock.Instant
        /// A certificate refused as not valid yet is tried again from this wall-clock time
        /// (its notBefore), files unchanged.
        var retryAt: Double?
        /// The last reload failed for want of descriptors or memory: the next try is a poll
        /// interval away (at most 30 s with tickets), however overdue the ticket keys.
        var transientFailure = false
    }

    public let settings: TLSServerSettings
    public let pollInterval: Duration
    /// How long one set of session-ticket keys lives (only with ``TLSServerSettings/sessionTickets``).
    public let ticketKeyLifetime: Duration
    private let observer: Observer?
    private let state: Mutex<State>
    /// Held for a whole reload: builds are serialized.
    private let reloading = Mutex(())
    /// Wall clock for the validity check (seconds since 1970); injectable for tests.
    private let now: @Sendable () -> Double
    /// Builds a context from the files (``TLSContext/server(_:)``); injectable for tests.
    private let build: @Sendable (TLSServerSettings) throws(TLSError) -> TLSContext

    /// Builds the first context; throws if it cannot be built (refuse to start: fail closed).
    public init(
        settings: TLSServerSettings, pollInterval: Duration = .seconds(5), ticketKeyLifetime: Duration = .seconds(3600),
        observer: Observer? = nil, now: @escaping @Sendable () -> Double = TLSContextReloader.wallClock,
        build: @escaping @Sendable (TLSServerSettings) throws(TLSError) -> TLSContext = TLSContext.server
    ) throws(TLSError) {
        self.settings = settings
        self.pollInterval = pollInterval
        self.ticketKeyLifetime = ticketKeyLifetime
        self.observer = observer
        self.now = now
        self.build = build
        let fingerprint = Self.fingerprint(settings)
        let context = try build(settings)
        self.state = Mutex(State(context: context, fingerprint: fingerprint, builtAt: .now))
    }

    public static let wallClock: @Sendable () -> Double = {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// The context for a new connection.
    public var current: TLSContext { state.withLock { $0.context } }

    /// Rebuilds the context from the files now on disk. On success it becomes `current`; on
    /// failure `current` is unchanged. Either way the observer is told. Call off the event loop.
    @discardableResult
    public func reload() -> Result<TLSContext, TLSError> {
        // The observer runs inside too, so what it records (the served certificate's
        // notAfter) follows the order the contexts were stored in.
        reloading.withLock { _ in
            let fingerprint = Self.fingerprint(settings)
            let result: Result<TLSContext, TLSError>
            var notBefore: Double?
            do throws(TLSError) {
                let context = try build(settings)
                notBefore = context.certificateNotBefore
                try checkValidity(context)
                state.withLock { $0 = State(context: context, fingerprint: fingerprint, builtAt: .now) }
                result = .success(context)
            } catch where error.isTransient {
                // Not the files' fault: the next poll tries them again (remembered as failed,
                // they waited for a change or a SIGHUP, and the old certificate served on).
                state.withLock { $0.transientFailure = true }
                result = .failure(error)
            } catch {
                // Remember what failed so `poll` retries only when the files change again, or,
                // for a certificate not valid yet, once it is (a CA that signs with notBefore =
                // now, a clock a little behind). The clock of the ticket keys restarts too, or
                // a failing rotation would retry every poll.
                let retryAt = error.kind == .certificateNotYetValid ? notBefore : nil
                state.withLock { state in
                    state.fingerprint = fingerprint
                    state.builtAt = .now
                    state.retryAt = retryAt
                    state.transientFailure = false
                }
                result = .failure(error)
            }
            observer?(result)
            return result
        }
    }

    /// Why the certificate now served would fail a client that checks it (expired, or not
    /// valid yet); nil when it is inside its window. Start-up serves it all the same (one
    /// that cannot be replaced is better served than nothing at all) and says so.
    public var validityProblem: TLSError? {
        do throws(TLSError) {
            try checkValidity(current)
            return nil
        } catch {
            return error
        }
    }

    /// A certificate outside its validity window would fail every client that checks it.
    private func checkValidity(_ context: TLSContext) throws(TLSError) {
        let now = self.now()
        let file = settings.certificateChainFile
        if let notAfter = context.certificateNotAfter, now >= notAfter {
            throw TLSError(kind: .certificateExpired, reason: "the certificate expired at \(Int(notAfter)) (seconds since 1970); keeping the current one", file: file)
        }
        if let notBefore = context.certificateNotBefore, now < notBefore {
            throw TLSError(kind: .certificateNotYetValid, reason: "the certificate is not valid before \(Int(notBefore)) (seconds since 1970); keeping the current one until it is", file: file)
        }
    }

    /// Reloads if any file changed since the last (attempted) load, or, with session tickets
    /// on, when the ticket keys reached their lifetime. Returns nil when nothing was due.
    @discardableResult
    public func poll() -> Result<TLSContext, TLSError>? {
        let files = Self.fingerprint(settings)
        let now = self.now()
        let due = state.withLock { state in
            state.fingerprint != files || state.retryAt.map { now >= $0 } == true
                || (settings.sessionTickets && state.builtAt.duration(to: .now) >= ticketKeyLifetime)
        }
        return due ? reload() : nil
    }

    /// Polls until the task is cancelled. Each poll (file reads, maybe a context build) runs
    /// on a dispatch queue, not on a thread of the cooperative pool that serves requests.
    public func run() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: nextWait()) } catch { return }
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    self.poll()
                    done.resume()
                }
            }
        }
    }

    /// The poll interval, or less when the ticket keys reach their lifetime sooner: with a
    /// long `reload_interval` they lived until the next poll, however late.
    func nextWait() -> Duration {
        guard settings.sessionTickets else { return pollInterval }
        let (builtAt, failed) = state.withLock { ($0.builtAt, $0.transientFailure) }
        // After a failure that is no file's fault, a poll interval, at most 30 s: the overdue
        // keys made the wait 1 ms (every try failed, logged and counted a thousand times a
        // second), and a long interval (24 h) would let them live on.
        if failed { return min(pollInterval, .seconds(30)) }
        let left = ticketKeyLifetime - builtAt.duration(to: .now)
        return max(.milliseconds(1), min(pollInterval, left))
    }

    struct FileFingerprint: Equatable, Sendable {
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
        var changedSeconds: Int
        var changedNanoseconds: Int
        var mode: UInt32
        var owner: UInt32
        var group: UInt32
    }

    static func fingerprint(_ s: TLSServerSettings) -> [FileFingerprint?] {
        [s.certificateChainFile, s.privateKeyFile, s.clientCAFile].map { path in
            guard let path else { return nil }
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            #if canImport(Darwin)
            let (mtime, ctime) = (info.st_mtimespec, info.st_ctimespec)
            #else
            let (mtime, ctime) = (info.st_mtim, info.st_ctim)
            #endif
            return FileFingerprint(
                inode: UInt64(info.st_ino), size: Int64(info.st_size),
                modifiedSeconds: Int(mtime.tv_sec), modifiedNanoseconds: Int(mtime.tv_nsec),
                changedSeconds: Int(ctime.tv_sec), changedNanoseconds: Int(ctime.tv_nsec),
                mode: UInt32(info.st_mode), owner: UInt32(info.st_uid), group: UInt32(info.st_gid))
        }
    }
}
