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
/// `run()` polls the files' (inode, size, mtime) every `pollInterval`. Replacing a file by
/// write-then-rename changes the inode, so it is seen; replacing the certificate and the key
/// one after the other may fail once (mismatch) and succeeds at the poll after the second file lands.
public final class TLSContextReloader: Sendable {
    public typealias Observer = @Sendable (Result<TLSContext, TLSError>) -> Void

    private struct State {
        var context: TLSContext
        /// Fingerprint of the files the current context was built from (or last tried).
        var fingerprint: [FileFingerprint?]
    }

    public let settings: TLSServerSettings
    public let pollInterval: Duration
    private let observer: Observer?
    private let state: Mutex<State>

    /// Builds the first context; throws if it cannot be built (refuse to start: fail closed).
    public init(settings: TLSServerSettings, pollInterval: Duration = .seconds(5), observer: Observer? = nil) throws(TLSError) {
        self.settings = settings
        self.pollInterval = pollInterval
        self.observer = observer
        let fingerprint = Self.fingerprint(settings)
        let context = try TLSContext.server(settings)
        self.state = Mutex(State(context: context, fingerprint: fingerprint))
    }

    /// The context for a new connection.
    public var current: TLSContext { state.withLock { $0.context } }

    /// Rebuilds the context from the files now on disk. On success it becomes `current`; on
    /// failure `current` is unchanged. Either way the observer is told. Call off the event loop.
    @discardableResult
    public func reload() -> Result<TLSContext, TLSError> {
        let fingerprint = Self.fingerprint(settings)
        let result: Result<TLSContext, TLSError>
        do {
            let context = try TLSContext.server(settings)
            state.withLock { $0 = State(context: context, fingerprint: fingerprint) }
            result = .success(context)
        } catch {
            // Remember what failed so `poll` retries only when the files change again.
            state.withLock { $0.fingerprint = fingerprint }
            result = .failure(error)
        }
        observer?(result)
        return result
    }

    /// Reloads if any file changed since the last (attempted) load. Returns nil when nothing changed.
    @discardableResult
    public func poll() -> Result<TLSContext, TLSError>? {
        let now = Self.fingerprint(settings)
        let changed = state.withLock { $0.fingerprint != now }
        return changed ? reload() : nil
    }

    /// Polls until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: pollInterval) } catch { return }
            poll()
        }
    }

    struct FileFingerprint: Equatable, Sendable {
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
    }

    static func fingerprint(_ s: TLSServerSettings) -> [FileFingerprint?] {
        [s.certificateChainFile, s.privateKeyFile, s.clientCAFile].map { path in
            guard let path else { return nil }
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            #if canImport(Darwin)
            let mtime = info.st_mtimespec
            #else
            let mtime = info.st_mtim
            #endif
            return FileFingerprint(
                inode: UInt64(info.st_ino), size: Int64(info.st_size),
                modifiedSeconds: Int(mtime.tv_sec), modifiedNanoseconds: Int(mtime.tv_nsec))
        }
    }
}
