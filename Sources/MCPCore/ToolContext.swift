/// What a running tool may do besides returning: report progress and send log messages to
/// the client that called it.
///
/// Both go to the transport that carries the call (on Streamable HTTP, the request's own
/// SSE stream). Progress is sent only when the client asked for it with
/// `_meta.progressToken` (MCP 2025-11-25 basic/utilities/progress.mdx); otherwise
/// ``progress(_:total:message:)`` costs nothing. Cancellation is Swift task cancellation:
/// the dispatcher cancels the handler's task on `notifications/cancelled`, on the deadline,
/// or when the client goes away, so backend calls must be cancellation-aware.
public struct ToolContext: Sendable {
    public typealias ProgressSink = @Sendable (_ progress: Double, _ total: Double?, _ message: String?) async -> Void
    public typealias LogSink = @Sendable (_ level: LogLevel, _ message: String) async -> Void

    public var toolName: String
    /// The name (never the value) of the token that made the call; `nil` on stdio.
    public var caller: String?
    /// Whether the caller may use tools that write: a read-only token sees only the others.
    public var allowsWrites: Bool
    private let progressSink: ProgressSink?
    private let logSink: LogSink?

    public init(toolName: String, caller: String? = nil, allowsWrites: Bool = true, progress: ProgressSink? = nil, log: LogSink? = nil) {
        self.toolName = toolName
        self.caller = caller
        self.allowsWrites = allowsWrites
        self.progressSink = progress
        self.logSink = log
    }

    /// When the dispatcher cancels this call (its timeout, from the call's start); nil for a
    /// handler called directly. A tool that reads many pages bounds each by what is left, so
    /// that it can answer with the pages it has instead of timing out with nothing.
    public private(set) var deadline: ContinuousClock.Instant?
    /// Time kept back for the answer after the last backend request: a tenth of the call's
    /// time, at most half a second (formatting and writing an answer takes milliseconds; the
    /// rest covers a loaded host's scheduling).
    private var answerReserve: Duration = .zero

    /// Gives the call its deadline, `timeout` after `start` (the dispatcher does, before the
    /// handler runs).
    public mutating func setDeadline(_ timeout: Duration, from start: ContinuousClock.Instant) {
        deadline = start + timeout
        answerReserve = min(.milliseconds(500), timeout / 10)
    }

    /// How long a backend request may still take with the call left time to answer; nil when
    /// the call has no deadline. Zero or less: the time is up.
    public var backendTimeLeft: Duration? {
        deadline.map { $0 - .now - answerReserve }
    }

    /// Whether the client asked for progress on this call.
    public var wantsProgress: Bool { progressSink != nil }

    /// Reports progress. `progress` must increase with each call (the dispatcher drops
    /// values that do not, as the spec requires).
    public func progress(_ progress: Double, total: Double? = nil, message: String? = nil) async {
        await progressSink?(progress, total, message)
    }

    /// Sends a `notifications/message` if the client's log level lets it through.
    public func log(_ level: LogLevel, _ message: String) async {
        await logSink?(level, message)
    }
}

/// Log severities of MCP logging (RFC 5424 order; MCP 2025-11-25
/// server/utilities/logging.mdx "Log Levels").
public enum LogLevel: String, Sendable, Hashable, CaseIterable, Comparable {
    case debug, info, notice, warning, error, critical, alert, emergency

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rank < rhs.rank }
}
