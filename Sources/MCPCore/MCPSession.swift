import Synchronization

/// What the dispatcher remembers about one client connection (stdio, a Streamable HTTP
/// session, a legacy SSE stream). Kept small and bounded: a few fields plus the handles of
/// the calls in flight, capped by ``maxInFlight``.
public final class MCPSession: Sendable {
    /// Who is calling, from the transport's authentication (a token *name*, never its value).
    public struct Principal: Sendable, Hashable {
        public var name: String
        /// False for a token with only the `read` scope: writing tools are hidden and refused.
        public var allowsWrites: Bool
        /// Which secret of the token named `name` was presented. A session belongs to the
        /// credential that made it, not to the name: an operator who rotates a leaked secret
        /// and keeps the name must see the old secret's sessions end. Nil where the transport
        /// has no secret (stdio).
        public var credential: Credential?

        public init(name: String, allowsWrites: Bool, credential: Credential? = nil) {
            self.name = name
            self.allowsWrites = allowsWrites
            self.credential = credential
        }

        /// An opaque tag the authenticator derives from what it stores for a token (its
        /// digest, never the secret), equal for the same secret across reloads. Printed
        /// redacted: a digest of a short secret can be brute-forced offline.
        public struct Credential: Sendable, Hashable, CustomStringConvertible {
            let bytes: [UInt8]
            public init(_ bytes: [UInt8]) { self.bytes = bytes }
            public var description: String { "<credential>" }
        }
    }

    enum Phase: Sendable {
        case new
        /// `initialize` answered; waiting for `notifications/initialized`.
        case initializing(version: String)
        case ready(version: String)
    }

    struct State: Sendable {
        var phase: Phase = .new
        var clientInfo: JSONValue?
        var logLevel: LogLevel?
        var inFlight = InFlightCalls()
        /// Set by `cancelAll`: the transport is gone, so a call starting now is cancelled too.
        var closed = false
        /// Requests read and handed to a task that has not tracked them yet (``announce(_:)``),
        /// with whether the client has cancelled them meanwhile. Empty unless a transport
        /// announces; at most `maxAnnounced`.
        var announced: [JSONRPCID: Bool] = [:]
    }

    struct InFlightCall: Sendable {
        var cancel: @Sendable () -> Void
        var cancelledByClient = false
    }

    /// The calls in flight, keyed by request id. The first is kept in a slot of its own: a
    /// stateless request's session only ever holds one, and a dictionary for it cost an
    /// allocation and two hashes of the id per call.
    struct InFlightCalls: Sendable {
        private var first: (id: JSONRPCID, call: InFlightCall)?
        private var rest: [JSONRPCID: InFlightCall] = [:]

        var count: Int { (first == nil ? 0 : 1) + rest.count }

        func contains(_ id: JSONRPCID) -> Bool {
            if let first, first.id == id { return true }
            return !rest.isEmpty && rest[id] != nil
        }

        /// Adds a call whose id is not in the table.
        mutating func insert(_ id: JSONRPCID, _ call: InFlightCall) {
            if first == nil { first = (id, call) } else { rest[id] = call }
        }

        mutating func remove(_ id: JSONRPCID) -> InFlightCall? {
            if let first, first.id == id {
                self.first = nil
                return first.call
            }
            return rest.isEmpty ? nil : rest.removeValue(forKey: id)
        }

        /// Marks the call cancelled by the client and returns its canceller.
        mutating func markCancelled(_ id: JSONRPCID) -> (@Sendable () -> Void)? {
            if first?.id == id {
                first!.call.cancelledByClient = true
                return first!.call.cancel
            }
            guard rest[id] != nil else { return nil }
            rest[id]!.cancelledByClient = true
            return rest[id]!.cancel
        }

        /// Marks every call cancelled by the client and returns their cancellers.
        mutating func markAllCancelled() -> [@Sendable () -> Void] {
            var cancels: [@Sendable () -> Void] = []
            if first != nil {
                first!.call.cancelledByClient = true
                cancels.append(first!.call.cancel)
            }
            for key in rest.keys {
                rest[key]!.cancelledByClient = true
                cancels.append(rest[key]!.cancel)
            }
            return cancels
        }
    }

    /// The transport's label for metrics (`stdio`, `streamable_http`, `sse`, `http_api`).
    public let transport: String
    public let principal: Principal?
    /// Whether requests other than `initialize`, `ping` and `server/discover` need the
    /// handshake first (2025-11-25 basic/lifecycle.mdx "Initialization"). The Go server's
    /// `/api/mcp/v1/call` never needed one, so that transport turns this off.
    public let requiresInitialize: Bool
    public let maxInFlight: Int
    /// Requests announced and not yet withdrawn (``announce(_:)``): `maxInFlight` unless the
    /// transport takes batches, whose requests wait their turn announced.
    public let maxAnnounced: Int
    /// The session is one request's, and that request's task does nothing after its one
    /// message but answer it (a stateless POST, a single Go API call): a tool call then runs
    /// in that task instead of a task of its own, which cost 13 % of such a `tools/call`'s
    /// CPU. Its deadline or a closed connection cancels the request's task, so a task that
    /// goes on to other work (a batch, a stream, stdio) must not have such a session.
    public let callsInline: Bool
    /// The protocol version a stateless (2026-07-28) request's transport read from its
    /// header, for a session that is that one request's. The dispatcher takes it where the
    /// body's `_meta` names none, so the transport need not copy `params` to add it there.
    public let requestVersion: String?
    private let state = Mutex(State())

    public init(transport: String, principal: Principal? = nil, requiresInitialize: Bool = true, maxInFlight: Int = 64,
                maxAnnounced: Int? = nil, callsInline: Bool = false, requestVersion: String? = nil) {
        self.transport = transport
        self.principal = principal
        self.requiresInitialize = requiresInitialize
        self.maxInFlight = maxInFlight
        self.maxAnnounced = maxAnnounced ?? maxInFlight
        self.callsInline = callsInline
        self.requestVersion = requestVersion
    }

    /// The version negotiated by `initialize`, if any.
    public var negotiatedVersion: String? {
        state.withLock {
            switch $0.phase {
            case .new: nil
            case .initializing(let v), .ready(let v): v
            }
        }
    }

    public var isInitialized: Bool {
        state.withLock { if case .new = $0.phase { false } else { true } }
    }

    public var clientInfo: JSONValue? { state.withLock { $0.clientInfo } }
    public var logLevel: LogLevel? { state.withLock { $0.logLevel } }
    public var inFlightCount: Int { state.withLock { $0.inFlight.count } }

    var allowsWrites: Bool { principal?.allowsWrites ?? true }

    /// Records `initialize`; false if the session was already initialized. Of the client's
    /// `clientInfo` only its name and version are kept, each as a string cut to
    /// ``clientInfoFieldBytes``: the whole value (up to `server.max_body`, 4 MiB, in up to
    /// 100,000 JSON values) was kept for the session's life, 128 sessions per token.
    func beginInitialize(version: String, clientInfo: JSONValue?) -> Bool {
        let kept = Self.retained(clientInfo)
        return state.withLock {
            guard case .new = $0.phase else { return false }
            $0.phase = .initializing(version: version)
            $0.clientInfo = kept
            return true
        }
    }

    /// The most of `clientInfo.name` and `clientInfo.version` a session keeps, in UTF-8 bytes.
    public static let clientInfoFieldBytes = 256

    /// `clientInfo` as a session keeps it: an object of its `name` and `version` strings, each
    /// cut at a Unicode scalar boundary within ``clientInfoFieldBytes``; nil without either.
    static func retained(_ clientInfo: JSONValue?) -> JSONValue? {
        var kept: JSONObject = [:]
        for key in ["name", "version"] {
            guard let text = clientInfo?[key]?.stringValue else { continue }
            var scalars = String.UnicodeScalarView()
            var bytes = 0
            for scalar in text.unicodeScalars {
                bytes += UTF8.width(scalar)
                if bytes > clientInfoFieldBytes { break }
                scalars.append(scalar)
            }
            kept[key] = .string(String(scalars))
        }
        return kept.isEmpty ? nil : .object(kept)
    }

    func markInitialized() {
        state.withLock {
            if case .initializing(let v) = $0.phase { $0.phase = .ready(version: v) }
        }
    }

    func setLogLevel(_ level: LogLevel) {
        state.withLock { $0.logLevel = level }
    }

    /// Registers a running call so `notifications/cancelled` can reach it. Fails when the
    /// id is already in flight (ids must be unique within a session) or the cap is reached.
    func track(_ id: JSONRPCID, cancel: @escaping @Sendable () -> Void) -> TrackResult {
        state.withLock {
            if $0.closed { return .closed }
            if !$0.announced.isEmpty, $0.announced.removeValue(forKey: id) == true { return .cancelledBeforeStart }
            if $0.inFlight.contains(id) { return .duplicate }
            if $0.inFlight.count >= maxInFlight { return .full }
            $0.inFlight.insert(id, InFlightCall(cancel: cancel))
            return .tracked
        }
    }

    enum TrackResult { case tracked, duplicate, full, closed, cancelledBeforeStart }

    /// A transport that reads a request and then runs it in a task of its own (stdio, legacy
    /// SSE) announces it first: a `notifications/cancelled` read in between, before the task
    /// tracks the call, would otherwise find nothing to cancel, and the call would run and be
    /// answered after the client gave it up. ``withdraw(_:)`` when the task is done.
    ///
    /// All of `ids` or none: `.full` when they would pass `maxAnnounced`, and the transport then
    /// refuses the message. Announced in part, a batch's later requests could not be cancelled
    /// before they started, and ran and were answered after the client gave them up.
    /// `.duplicate` for an id given twice, or already announced or in flight: a request id
    /// "MUST NOT have been previously used by the requestor within the same session"
    /// (2025-11-25 basic/index.mdx "Requests"), and one announcement stood for all of them,
    /// so repeated ids passed the cap and the first to finish withdrew the others' entry.
    @discardableResult
    public func announce(_ ids: [JSONRPCID]) -> Announcement {
        state.withLock { s in
            var seen = Set<JSONRPCID>()
            for id in ids {
                if s.announced[id] != nil || s.inFlight.contains(id) || (ids.count > 1 && !seen.insert(id).inserted) {
                    return .duplicate(id)
                }
            }
            guard s.announced.count + ids.count <= maxAnnounced else { return .full }
            for id in ids { s.announced[id] = false }
            return .announced
        }
    }

    public enum Announcement: Equatable, Sendable { case announced, full, duplicate(JSONRPCID) }

    /// The announced request's task is done (its call tracked and finished, or never a call);
    /// returns whether the client cancelled it meanwhile (a request other than a tool call,
    /// which ``track(_:cancel:)`` does not take over), whose answer is then not sent
    /// (2025-11-25 basic/utilities/cancellation.mdx: the receiver SHOULD NOT send a response).
    /// Called before the answer is written: after it, the client may reuse the id (2026-07-28
    /// basic/index.mdx "Requests"), and a late withdraw would remove the new announcement.
    @discardableResult
    public func withdraw(_ id: JSONRPCID) -> Bool {
        state.withLock { s in
            s.announced.isEmpty ? false : s.announced.removeValue(forKey: id) == true
        }
    }

    /// Forgets a finished call; returns whether the client had cancelled it.
    func untrack(_ id: JSONRPCID) -> Bool {
        state.withLock { $0.inFlight.remove(id)?.cancelledByClient ?? false }
    }

    /// Cancels a call the client gave up on (2025-11-25 basic/utilities/cancellation.mdx).
    /// Unknown or finished ids are ignored, as the spec asks.
    public func cancel(_ id: JSONRPCID) {
        let cancel = state.withLock { s -> (@Sendable () -> Void)? in
            if let cancel = s.inFlight.markCancelled(id) { return cancel }
            if s.announced[id] != nil { s.announced[id] = true }
            return nil
        }
        cancel?()
    }

    /// Whether ``cancelAll()`` has run: a call that returned no answer was cancelled by it.
    public var cancelledAll: Bool { state.withLock { $0.closed } }

    /// Cancels every call in flight, and every call started later: the transport went away.
    public func cancelAll() {
        let cancels = state.withLock { s -> [@Sendable () -> Void] in
            s.closed = true
            return s.inFlight.markAllCancelled()
        }
        for cancel in cancels { cancel() }
    }
}
