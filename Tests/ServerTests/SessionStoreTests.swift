import Hummingbird
import MCPCore
import Testing

@testable import MCPServerKit

/// Sessions end by DELETE or by idle expiry (2025-11-25 basic/transports.mdx "Session
/// Management"); a session with work in flight or a listening stream is not idle.
@Suite struct SessionStoreTests {
    let start = ContinuousClock.now

    func store(replay: Bool = false) -> SessionStore {
        SessionStore(maxSessions: 4, maxPerOwner: 2, idleTimeout: .seconds(60), metrics: nil,
                     replayLimits: replay ? (events: 16, bytes: 4096, streams: 8) : nil)
    }

    func create(_ store: SessionStore, owner: String = "a") throws -> String {
        try store.create(owner: .init(name: owner), kind: .streamable, make: { MCPSession(transport: "test") }, now: start).id
    }

    @Test("an idle session expires; a busy one does not, until its work is done and it has been idle again")
    func busyIsNotIdle() throws {
        let sessions = store()
        let idle = try create(sessions)
        let busy = try create(sessions)
        sessions.setBusy(busy, 1, now: start)
        #expect(sessions.expireIdle(now: start + .seconds(61)) == 1)
        #expect(!sessions.contains(idle))
        #expect(sessions.contains(busy))
        sessions.setBusy(busy, -1, now: start + .seconds(62))
        #expect(sessions.expireIdle(now: start + .seconds(100)) == 0)
        #expect(sessions.expireIdle(now: start + .seconds(122)) == 1)
        #expect(sessions.count == 0)
    }

    /// The sweep runs every 30 s at most: between two, a session idle past its timeout was
    /// still served (and its clock restarted).
    @Test("a session idle past its timeout is not found, even before the sweep takes it out; one used in time is")
    func expiredBeforeTheSweepIsNotFound() throws {
        let sessions = store()
        let stale = try create(sessions)
        let fresh = try create(sessions, owner: "b")
        #expect(sessions.lookup(fresh, owner: .init(name: "b"), kind: .streamable, now: start + .seconds(59)) != nil)
        #expect(sessions.lookup(stale, owner: .init(name: "a"), kind: .streamable, now: start + .seconds(61)) == nil)
        #expect(!sessions.contains(stale), "ended at once, its place under the caps freed")
        #expect(sessions.lookup(fresh, owner: .init(name: "b"), kind: .streamable, now: start + .seconds(118)) != nil)
    }

    /// A listening stream keeps its session in use however long it lasts; when it drops, the
    /// client reconnects (or posts) within the timeout of that moment, not of its last request.
    @Test("a session whose listening stream outlived the timeout is still there when the stream drops and the client comes back")
    func aDroppedStreamStartsTheIdleClock() throws {
        let sessions = store()
        let id = try create(sessions)
        let stream = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(sessions.attach(stream, to: id))
        sessions.detach(stream, from: id, now: start + .seconds(3600))
        #expect(sessions.lookup(id, owner: .init(name: "a"), kind: .streamable, now: start + .seconds(3602)) != nil)
    }

    @Test("a DELETE of a session that expired since the last sweep ends it as expired and answers as for an unknown one")
    func deleteOfAnExpiredSession() throws {
        let sessions = store()
        let id = try create(sessions)
        let removed = sessions.remove(id, owner: .init(name: "a"), now: start + .seconds(61))
        #expect(!removed)
        #expect(!sessions.contains(id))
        let live = try create(sessions)
        let removedLive = sessions.remove(live, owner: .init(name: "a"), now: start + .seconds(59))
        #expect(removedLive)
    }

    @Test("a removed session frees its place under the per-token cap, and only its owner removes it")
    func removeFreesTheCap() throws {
        let sessions = store()
        let first = try create(sessions)
        _ = try create(sessions)
        #expect(throws: SessionStore.CreateError.perTokenCap) { try create(sessions) }
        let removedByAnother = sessions.remove(first, owner: .init(name: "b"))
        #expect(!removedByAnother)
        #expect(sessions.remove(first, owner: .init(name: "a")))
        #expect(!sessions.contains(first))
        _ = try create(sessions)
    }

    @Test("sessions of a token no longer accepted as it was end with a final event; the others stay")
    func revokedTokensLoseTheirSessions() throws {
        let metrics = ServerMetrics()
        let sessions = SessionStore(maxSessions: 4, maxPerOwner: 2, idleTimeout: .seconds(60), metrics: metrics)
        func create(_ name: String, writes: Bool = true) throws -> String {
            try sessions.create(owner: .init(name: name), kind: .streamable, make: {
                MCPSession(transport: "test", principal: .init(name: name, allowsWrites: writes))
            }, now: start).id
        }
        let gone = try create("removed")
        let narrowed = try create("narrowed")
        let kept = try create("current")
        let stream = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(sessions.attach(stream, to: gone))
        // "narrowed" lost its write scope; "removed" is gone.
        let current: (MCPSession.Principal) -> Bool = { $0.name == "current" || ($0.name == "narrowed" && !$0.allowsWrites) }
        #expect(sessions.revoke(unless: current) == 2)
        #expect(!sessions.contains(gone) && !sessions.contains(narrowed) && sessions.contains(kept))
        #expect(stream.end == .finished)
        #expect(sessions.revoke(unless: current) == 0)
        #expect(String(decoding: metrics.render(), as: UTF8.self).contains("mcp_sessions_revoked_total 2"))
        // The narrowed token's new session is current; the removed token's place is free again.
        _ = try create("narrowed", writes: false)
        #expect(sessions.revoke(unless: current) == 0)
        _ = try create("removed")
    }

    /// 2025-06-18 basic/transports.mdx "Session Management" (a session id unknown to the
    /// server is a 404) and security_best_practices.mdx "Session Hijacking" (bind the
    /// session to the user): a token's new secret, under the same name, is another
    /// credential. It cannot use, end or count as the old secret's sessions, and revocation
    /// asks about each credential, so a rotation ends the old secret's sessions only.
    @Test("a session belongs to the credential that made it, not to the token's name")
    func sessionsAreBoundToTheCredential() throws {
        let metrics = ServerMetrics()
        let sessions = SessionStore(maxSessions: 4, maxPerOwner: 2, idleTimeout: .seconds(60), metrics: metrics)
        let old = MCPSession.Principal(name: "ci", allowsWrites: true, credential: .init(Array(repeating: 1, count: 32)))
        var rotated = old
        rotated.credential = .init(Array(repeating: 2, count: 32))
        func create(_ principal: MCPSession.Principal) throws -> String {
            try sessions.create(owner: .init(principal), kind: .streamable, make: {
                MCPSession(transport: "test", principal: principal)
            }, now: start).id
        }
        let oldSession = try create(old)
        #expect(sessions.lookup(oldSession, owner: .init(rotated), kind: .streamable) == nil)
        let removedByRotated = sessions.remove(oldSession, owner: .init(rotated))
        #expect(!removedByRotated)
        #expect(sessions.lookup(oldSession, owner: .init(old), kind: .streamable) != nil)
        // The cap is the token's, whichever secret: one more session fills it.
        let newSession = try create(rotated)
        #expect(throws: SessionStore.CreateError.perTokenCap) { try create(rotated) }
        let stream = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(sessions.attach(stream, to: oldSession))
        #expect(sessions.revoke(unless: { $0 == rotated }) == 1)
        #expect(!sessions.contains(oldSession) && sessions.contains(newSession))
        #expect(stream.end == .finished)
        #expect(String(decoding: metrics.render(), as: UTF8.self).contains("mcp_sessions_revoked_total 1"))
    }

    @Test("ending a session ends the connections attached to its resumable streams")
    func removeEndsResumableConnections() throws {
        let sessions = store(replay: true)
        let id = try create(sessions)
        let replay = try #require(sessions.replay(of: id))
        let live = SSEStream(capacity: 1 << 16, metrics: nil)
        _ = try replay.newStream(attaching: live)
        #expect(sessions.remove(id, owner: nil))
        #expect(live.end == .finished)
    }

    /// With resumability a GET stream lives in the replay buffer, not on the session's entry:
    /// a revoked session's streams used to end there without the `revoked` event.
    @Test func revokingASessionWithResumableStreamsSaysWhy() async throws {
        let sessions = store(replay: true)
        let id = try sessions.create(owner: .init(name: "a"), kind: .streamable, make: {
            MCPSession(transport: "test", principal: .init(name: "a", allowsWrites: true))
        }, now: start).id
        let replay = try #require(sessions.replay(of: id))
        let live = SSEStream(capacity: 1 << 16, metrics: nil)
        _ = try replay.newStream(attaching: live)
        #expect(sessions.revoke(unless: { _ in false }) == 1)
        #expect(live.end == .finished)
        var writer: any ResponseBodyWriter = CollectingWriter()
        _ = try? await live.pump(into: &writer)
        #expect((writer as! CollectingWriter).text.value.hasPrefix("event: revoked\ndata: {"))
    }

    /// A GET looks its session up, then attaches its stream: a DELETE (or a revocation) in
    /// between must not leave a stream that nothing will ever end.
    @Test("a stream is not attached to a session that ended after it was looked up, and a reopened one ends the one it replaces")
    func attachToAnEndedSession() throws {
        let sessions = store()
        let id = try create(sessions)
        #expect(sessions.lookup(id, owner: .init(name: "a"), kind: .streamable) != nil)
        let first = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(sessions.attach(first, to: id))
        let second = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(sessions.attach(second, to: id))
        #expect(first.end == .finished && second.end == nil)
        #expect(sessions.remove(id, owner: nil))
        #expect(second.end == .finished)
        let late = SSEStream(capacity: 1 << 16, metrics: nil)
        #expect(!sessions.attach(late, to: id))
        #expect(sessions.stream(of: id) == nil)
    }

    @Test("a legacy session is created with its stream attached: revoking it at once ends that stream")
    func legacyStreamAttachedAtCreation() throws {
        let sessions = store()
        let stream = SSEStream(capacity: 1 << 16, metrics: nil)
        let id = try sessions.create(owner: .init(name: "a"), kind: .legacySSE, stream: stream, make: {
            MCPSession(transport: "test", principal: .init(name: "a", allowsWrites: true))
        }, now: start).id
        #expect(sessions.stream(of: id) === stream)
        #expect(sessions.revoke(unless: { _ in false }) == 1)
        #expect(stream.end == .finished)
    }

    /// A panel or an `absent()` alert on the Go server's `mcp_sse_connections_active` saw no
    /// series until the first stream opened.
    @Test("mcp_sessions_active and mcp_sse_connections_active are exported at 0 from the start")
    func activeGaugesFromTheStart() {
        let metrics = ServerMetrics()
        _ = SessionStore(maxSessions: 4, maxPerOwner: 4, idleTimeout: .seconds(60), metrics: metrics)
        _ = StreamTracker(maxStreams: 4, maxPerOwner: 4, metrics: metrics)
        let lines = String(decoding: metrics.render(), as: UTF8.self).split(separator: "\n")
        #expect(lines.contains("mcp_sessions_active 0.0"))
        #expect(lines.contains("mcp_sse_connections_active 0.0"))
    }

    /// DELETE /mcp names a Streamable HTTP session: a legacy SSE session's id there is not
    /// found (404), and its stream goes on.
    @Test("removing by kind leaves a session of the other kind alone")
    func removeChecksTheKind() throws {
        let sessions = store()
        let stream = SSEStream(capacity: 1 << 16, metrics: nil)
        let owner = SessionStore.Owner(name: "a")
        let id = try sessions.create(owner: owner, kind: .legacySSE, stream: stream, make: {
            MCPSession(transport: "test", principal: .init(name: "a", allowsWrites: true))
        }, now: start).id
        #expect(!sessions.remove(id, owner: owner, kind: .streamable))
        #expect(stream.end == nil)
        #expect(sessions.remove(id, owner: owner, kind: .legacySSE))
        #expect(stream.end == .finished)
    }

    @Test("a resumable stream opened after its session ended is refused, so none outlives the session")
    func noResumableStreamAfterTheEnd() throws {
        let sessions = store(replay: true)
        let id = try create(sessions)
        let replay = try #require(sessions.replay(of: id))
        #expect(sessions.remove(id, owner: nil))
        #expect(throws: ReplayBuffer.Refusal.sessionEnded) {
            try replay.newStream(attaching: SSEStream(capacity: 1 << 16, metrics: nil))
        }
    }
}
