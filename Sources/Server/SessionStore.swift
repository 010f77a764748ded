import Foundation
import Prometheus
import MCPCore
import Synchronization

/// The Streamable HTTP and legacy SSE sessions: bounded globally and per token, bound to
/// the token that created them, expired when idle.
///
/// A session id is 32 bytes from the system CSPRNG, base64url-encoded (visible ASCII, as
/// 2025-11-25 basic/transports.mdx "Session Management" requires). Another credential
/// presenting the id gets the same answer as an unknown id (404), so ids cannot be probed
/// across tokens, nor used with a token's new secret after a rotation (2025-06-18
/// basic/security_best_practices.mdx "Session Hijacking": bind the session to the user).
final class SessionStore: Sendable {
    enum Kind: Sendable { case streamable, legacySSE }

    /// Who may use a session: the credential that created it. The per-token cap counts by
    /// `name`; a lookup or removal must match the credential too, so a token's new secret
    /// does not inherit the sessions of the secret it replaced.
    struct Owner: Sendable, Hashable {
        let name: String
        let credential: MCPSession.Principal.Credential?

        init(name: String, credential: MCPSession.Principal.Credential? = nil) {
            self.name = name
            self.credential = credential
        }

        /// A request's owner; "anonymous" when the authenticator names no one.
        init(_ principal: MCPSession.Principal?) {
            self.init(name: principal?.name ?? "anonymous", credential: principal?.credential)
        }
    }

    struct Entry: Sendable {
        let session: MCPSession
        let owner: Owner
        let kind: Kind
        var lastUsed: ContinuousClock.Instant
        /// The server-to-client stream: the GET stream of a Streamable HTTP session, or the
        /// event stream of a legacy SSE session.
        var stream: SSEStream?
        /// Requests being served; a session with work in flight is not idle.
        var busy = 0
        /// Replay of the session's streams, when resumability is on.
        let replay: ReplayBuffer?
    }

    enum CreateError: Error { case globalCap, perTokenCap }

    private struct State {
        var entries: [String: Entry] = [:]
        var perOwner: [String: Int] = [:]
    }

    private let state = Mutex(State())
    let maxSessions: Int
    let maxPerOwner: Int
    let idleTimeout: Duration
    let metrics: ServerMetrics?
    /// Events, bytes and streams kept per session for resumption; nil: resumability off.
    let replayLimits: (events: Int, bytes: Int, streams: Int)?

    init(maxSessions: Int, maxPerOwner: Int, idleTimeout: Duration, metrics: ServerMetrics?, replayLimits: (events: Int, bytes: Int, streams: Int)? = nil) {
        self.replayLimits = replayLimits
        self.maxSessions = maxSessions
        self.maxPerOwner = maxPerOwner
        self.idleTimeout = idleTimeout
        self.metrics = metrics
        metrics?.gauge(.sessionsMax).set(to: Double(maxSessions))
        activeGauge = metrics?.gauge(.sessionsActive)
        activeGauge?.set(to: 0)
    }

    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Base64URL.encode(bytes)
    }

    /// - Parameter stream: the session's server-to-client stream, attached under the same lock
    ///   so that a revocation cannot end the session between the two and leave it open.
    func create(owner: Owner, kind: Kind, stream: SSEStream? = nil, make: () -> MCPSession,
                now: ContinuousClock.Instant = .now) throws(CreateError) -> (id: String, session: MCPSession) {
        let result: Result<(String, MCPSession), CreateError> = state.withLock { state in
            if state.entries.count >= maxSessions { return .failure(.globalCap) }
            if state.perOwner[owner.name, default: 0] >= maxPerOwner { return .failure(.perTokenCap) }
            let id = Self.newID()
            let session = make()
            let replay = kind == .streamable ? replayLimits.map { ReplayBuffer(maxEvents: $0.events, maxBytes: $0.bytes, maxStreams: $0.streams, metrics: metrics) } : nil
            state.entries[id] = Entry(session: session, owner: owner, kind: kind, lastUsed: now, stream: stream, replay: replay)
            state.perOwner[owner.name, default: 0] += 1
            return .success((id, session))
        }
        switch result {
        case .success(let value):
            updateGauge()
            return value
        case .failure(let error):
            metrics?.counter(.sessionsRejected, error == .globalCap ? "global_cap" : "per_token_cap").increment()
            throw error
        }
    }

    /// The session with this id if `owner` (the same credential) created it; marks it used.
    /// One idle past the timeout has expired, whether or not the sweep (every 30 s at most)
    /// has taken it out yet: it is ended now, and the request gets what any later one would.
    func lookup(_ id: String, owner: Owner, kind: Kind, now: ContinuousClock.Instant = .now) -> MCPSession? {
        let (session, expired): (MCPSession?, Entry?) = state.withLock { state in
            guard var entry = state.entries[id], entry.owner == owner, entry.kind == kind else { return (nil, nil) }
            if Self.isIdle(entry, now: now, timeout: idleTimeout) { return (nil, Self.take(id, from: &state)) }
            entry.lastUsed = now
            state.entries[id] = entry
            return (entry.session, nil)
        }
        if let expired {
            end(expired)
            metrics?.counter(.sessionsExpired).increment()
            updateGauge()
        }
        return session
    }

    private static func isIdle(_ entry: Entry, now: ContinuousClock.Instant, timeout: Duration) -> Bool {
        entry.busy == 0 && entry.stream == nil && now - entry.lastUsed >= timeout
    }

    /// Marks a request started/finished on a session, so a long call does not expire it.
    func setBusy(_ id: String, _ delta: Int, now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            state.entries[id]?.busy += delta
            state.entries[id]?.lastUsed = now
        }
    }

    /// Attaches the server-to-client stream and ends the one it replaces (a client may reopen
    /// a dropped GET stream). False when the session has ended since it was looked up (a
    /// DELETE or a revocation in between): nothing would ever end the stream, so the caller
    /// must not serve it.
    func attach(_ stream: SSEStream, to id: String) -> Bool {
        let result: (attached: Bool, old: SSEStream?) = state.withLock { state in
            guard state.entries[id] != nil else { return (false, nil) }
            let old = state.entries[id]?.stream
            state.entries[id]?.stream = stream
            return (true, old)
        }
        if let old = result.old, old !== stream { old.finish() }
        return result.attached
    }

    /// The stream ended: the session's idle time starts now (a listening stream kept it in
    /// use, however long ago its last request was).
    func detach(_ stream: SSEStream, from id: String, now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            if state.entries[id]?.stream === stream {
                state.entries[id]?.stream = nil
                state.entries[id]?.lastUsed = now
            }
        }
    }

    func replay(of id: String) -> ReplayBuffer? {
        state.withLock { $0.entries[id]?.replay }
    }

    func stream(of id: String) -> SSEStream? {
        state.withLock { $0.entries[id]?.stream }
    }

    /// Ends a session (DELETE, or its legacy stream closed); false if unknown to `owner`.
    /// `kind`, when given, must match: DELETE /mcp ends a Streamable HTTP session, never a
    /// legacy SSE one (whose stream would end with no final event).
    /// A session that had expired (idle past the timeout, not yet swept) ends as expired, and
    /// the answer is the unknown session's.
    @discardableResult
    func remove(_ id: String, owner: Owner?, kind: Kind? = nil, now: ContinuousClock.Instant = .now) -> Bool {
        let removed: (entry: Entry, expired: Bool)? = state.withLock { state in
            guard let entry = state.entries[id], owner == nil || entry.owner == owner, kind == nil || entry.kind == kind else { return nil }
            let expired = Self.isIdle(entry, now: now, timeout: idleTimeout)
            return Self.take(id, from: &state).map { ($0, expired) }
        }
        guard let removed else { return false }
        end(removed.entry)
        if removed.expired { metrics?.counter(.sessionsExpired).increment() }
        updateGauge()
        return !removed.expired
    }

    /// Removes sessions idle for longer than the timeout; returns how many. Chosen and taken
    /// out under one lock: a request that marks a session busy between the two would
    /// otherwise lose it mid-call.
    @discardableResult
    func expireIdle(now: ContinuousClock.Instant = .now) -> Int {
        let expired: [Entry] = state.withLock { state in
            let idle = state.entries.compactMap { id, entry in Self.isIdle(entry, now: now, timeout: idleTimeout) ? id : nil }
            return idle.compactMap { Self.take($0, from: &state) }
        }
        for entry in expired { end(entry) }
        if !expired.isEmpty {
            metrics?.counter(.sessionsExpired).increment(by: Int64(expired.count))
            updateGauge()
        }
        return expired.count
    }

    /// Ends the sessions whose token is no longer accepted as it was (removed by a reload,
    /// given a new secret, expired, or narrowed to `read`): their streams would otherwise keep delivering to a
    /// client that could not open them now, and a narrowed session would go on listing the
    /// tools that write. Returns how many.
    @discardableResult
    func revoke(unless isCurrent: (MCPSession.Principal) -> Bool) -> Int {
        // Asked outside the lock (the answer takes the token store's lock), once per principal.
        let principals = state.withLock { Set($0.entries.values.compactMap { $0.session.principal }) }
        let stale = principals.filter { !isCurrent($0) }
        guard !stale.isEmpty else { return 0 }
        let revoked: [Entry] = state.withLock { state in
            let ids = state.entries.compactMap { id, entry in entry.session.principal.map(stale.contains) == true ? id : nil }
            return ids.compactMap { Self.take($0, from: &state) }
        }
        // Every stream of the session says why it ends: the standalone GET stream, or with
        // resumability each stream the replay buffer holds (which used to end without it).
        let last = (event: "revoked", data: #"{"reason":"the token of this session is no longer accepted as it was"}"#)
        for entry in revoked {
            entry.stream?.send(event: last.event, data: last.data)
            end(entry, last: last)
        }
        if !revoked.isEmpty {
            metrics?.counter(.sessionsRevoked).increment(by: Int64(revoked.count))
            updateGauge()
        }
        return revoked.count
    }

    /// Whether the session still exists (a request that ran while it was deleted or expired
    /// answers 404, as any later request with its id would).
    func contains(_ id: String) -> Bool {
        state.withLock { $0.entries[id] != nil }
    }

    private static func take(_ id: String, from state: inout State) -> Entry? {
        guard let entry = state.entries.removeValue(forKey: id) else { return nil }
        state.perOwner[entry.owner.name, default: 1] -= 1
        if state.perOwner[entry.owner.name] == 0 { state.perOwner[entry.owner.name] = nil }
        return entry
    }

    /// Cancels the session's work and ends its streams (outside the lock).
    private func end(_ entry: Entry, last: (event: String, data: String)? = nil) {
        entry.session.cancelAll()
        entry.stream?.finish()
        entry.replay?.clear(last: last)
    }

    /// Ends every session (shutdown).
    func removeAll() {
        let ids = state.withLock { Array($0.entries.keys) }
        for id in ids { remove(id, owner: nil) }
    }

    var count: Int { state.withLock { $0.entries.count } }

    /// `mcp_sessions_active`, there from the start (0), not from the first session.
    private let activeGauge: Gauge?

    /// Read and set under the lock: two changes that each set the gauge after releasing it
    /// could leave the older count showing.
    private func updateGauge() {
        state.withLock { activeGauge?.set(to: Double($0.entries.count)) }
    }
}

/// Counts open SSE streams globally and per token, and ends the listening ones at shutdown.
///
/// A listening stream (a session's GET stream, a legacy SSE stream) would hold its connection
/// open for the whole shutdown grace: it gets a final event and ends as shutdown starts. The
/// stream a POST is answered on ends with its answer, so it is left to finish: that is the
/// in-flight request the grace is for. A legacy SSE stream is both: it listens, and the
/// answers to its session's POSTed calls travel on it, so while it owes answers the drain
/// leaves it open, and it ends with its last answer.
final class StreamTracker: Sendable {
    enum Refusal: Error { case globalCap, perTokenCap, draining }

    private struct Tracked {
        let stream: SSEStream
        let listening: Bool
        /// Calls in flight whose answers travel on this stream.
        var answersOwed = 0
    }

    private struct State {
        var streams: [ObjectIdentifier: Tracked] = [:]
        var perOwner: [String: Int] = [:]
        var draining = false

        /// Starts the drain; returns the listening streams to end now (those owing nothing).
        mutating func drain() -> [SSEStream] {
            draining = true
            return streams.values.compactMap { $0.listening && $0.answersOwed == 0 ? $0.stream : nil }
        }

        /// Counts one more answer owed on `stream`; false when nothing can be delivered on it
        /// any more: it is closed (untracked), or the drain has already ended it (a
        /// listening stream that owed nothing).
        mutating func expect(on stream: SSEStream) -> Bool {
            guard let tracked = streams[ObjectIdentifier(stream)] else { return false }
            if draining, tracked.listening, tracked.answersOwed == 0 { return false }
            streams[ObjectIdentifier(stream)]?.answersOwed += 1
            return true
        }

        /// Counts one answer owed on `stream` as given; returns the stream when that was its
        /// last during a drain (it ends now).
        mutating func settle(on stream: SSEStream) -> SSEStream? {
            guard let tracked = streams[ObjectIdentifier(stream)] else { return nil }
            let owed = tracked.answersOwed - 1
            streams[ObjectIdentifier(stream)]?.answersOwed = owed
            return draining && tracked.listening && owed == 0 ? stream : nil
        }
    }

    private let state = Mutex(State())
    let maxStreams: Int
    let maxPerOwner: Int
    let metrics: ServerMetrics?

    init(maxStreams: Int, maxPerOwner: Int, metrics: ServerMetrics?) {
        self.maxStreams = maxStreams
        self.maxPerOwner = maxPerOwner
        self.metrics = metrics
        metrics?.gauge(.sseStreamsMax).set(to: Double(maxStreams))
        activeGauge = metrics?.gauge(.sseConnectionsActive)
        activeGauge?.set(to: 0)
    }

    /// `mcp_sse_connections_active` (the Go server's name), there from the start (0).
    private let activeGauge: Gauge?

    /// Read and set under the lock, as ``SessionStore``'s.
    private func updateGauge() {
        state.withLock { activeGauge?.set(to: Double($0.streams.count)) }
    }

    /// - Parameter listening: a stream that carries no answer of its own (GET, legacy SSE);
    ///   refused once draining, and ended by ``drain()``.
    func open(_ stream: SSEStream, owner: String, listening: Bool) throws(Refusal) {
        let refusal: Refusal? = state.withLock { state in
            if state.draining, listening { return .draining }
            if state.streams.count >= maxStreams { return .globalCap }
            if state.perOwner[owner, default: 0] >= maxPerOwner { return .perTokenCap }
            state.streams[ObjectIdentifier(stream)] = Tracked(stream: stream, listening: listening)
            state.perOwner[owner, default: 0] += 1
            return nil
        }
        if let refusal {
            metrics?.counter(.sseStreamsRejected, refusal == .globalCap ? "global_cap" : refusal == .perTokenCap ? "per_token_cap" : "draining").increment()
            throw refusal
        }
        updateGauge()
    }

    func close(_ stream: SSEStream, owner: String) {
        state.withLock { state in
            guard state.streams.removeValue(forKey: ObjectIdentifier(stream)) != nil else { return }
            state.perOwner[owner, default: 1] -= 1
            if state.perOwner[owner] == 0 { state.perOwner[owner] = nil }
        }
        updateGauge()
    }

    var count: Int { state.withLock { $0.streams.count } }

    /// Refuses new listening streams and ends the open ones with a final event; one that
    /// owes answers ends once it has sent them (within the grace: at its end the connection
    /// is closed).
    func drain() {
        for stream in state.withLock({ $0.drain() }) { Self.endForShutdown(stream) }
    }

    /// A call whose answer travels on `stream` (legacy SSE) is about to start: a drain keeps
    /// the stream open until ``answered(on:)``. Also counts calls posted during the drain.
    /// False (and nothing counted) when the stream has ended or the drain has ended it: the
    /// answer would be lost, so the call must be refused, not started.
    func expectAnswer(on stream: SSEStream) -> Bool {
        guard stream.end == nil else { return false }
        return state.withLock { $0.expect(on: stream) }
    }

    /// That call has answered (or given up): a draining stream that owes nothing more ends.
    func answered(on stream: SSEStream) {
        if let ended = state.withLock({ $0.settle(on: stream) }) { Self.endForShutdown(ended) }
    }

    private static func endForShutdown(_ stream: SSEStream) {
        stream.send(event: "shutdown", data: #"{"reason":"server shutting down"}"#)
        stream.finish()
    }
}
