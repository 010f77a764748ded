import Hummingbird
import Logging
import Synchronization

/// The request id and the caller of the request a task serves, for its log lines. Kept in a
/// task-local and read by the log handler (``provider``, a `Logger.MetadataProvider`) only
/// when a line is written. Set on each request's logger instead, they cost two copies of
/// the logger's storage and a dictionary per request, 2 % of its CPU, with nothing logged.
/// Tasks started for the request (a tool call, an SSE stream) inherit the task-local.
public final class RequestLogMetadata: Sendable {
    public let id: RequestID
    /// Set once authentication has found the caller: in place, by the request's own task, so
    /// the gate needs no second task-local scope (a push, a pop and an async frame per request).
    private let caller: Mutex<String?>

    public init(id: RequestID, token: String? = nil) {
        self.id = id
        caller = Mutex(token)
    }

    /// The token's name, once authentication has found it.
    public var token: String? {
        get { caller.withLock { $0 } }
        set { caller.withLock { $0 = newValue } }
    }

    @TaskLocal public static var current: RequestLogMetadata?

    /// Bootstrap the logging system with this (`LoggingSystem.bootstrap(_:metadataProvider:)`).
    public static let provider = Logger.MetadataProvider {
        guard let current else { return [:] }
        var metadata: Logger.Metadata = ["hb.request.id": .stringConvertible(current.id)]
        if let token = current.token { metadata["token"] = .string(token) }
        return metadata
    }
}
