import MCPCore
import Prometheus
import Synchronization

/// The replay side of a session's SSE streams (2025-11-25 basic/transports.mdx
/// "Resumability and Redelivery"), on when `server.resumability` is true.
///
/// Every event of a session's streams gets an id `<stream>-<seq>` (unique in the session,
/// naming its stream) and is kept in a bounded buffer: at most `maxEvents` events and
/// `maxBytes` bytes (or the newest event alone, if it is larger), oldest dropped first. A
/// client that lost a stream GETs the endpoint with `Last-Event-ID` and receives what
/// followed that event on that stream only, then the rest of the stream live. A request's work is not cancelled when its POST stream
/// drops: its answer waits in the buffer.
final class ReplayBuffer: Sendable {
    struct Event: Sendable {
        let stream: Int
        let seq: Int
        /// Emptied when the event is dropped: the slot stays until the array is compacted,
        /// its text must not (up to 1,024 dropped events of a tool's largest result each).
        var text: String
        let eventType: String
    }

    private struct State {
        var events: [Event] = []
        var head = 0
        var bytes = 0
        var nextStream = 1
        var streams: [Int: ResumableStream] = [:]
        var finished: Set<Int> = []
        /// Streams a connection carries now: never forgotten, or DELETE could not end them.
        var attached: Set<Int> = []
        /// The session ended: no new stream, so none outlives it.
        var closed = false
    }

    private let state = Mutex(State())
    let maxEvents: Int
    let maxBytes: Int
    /// Streams remembered for resumption. Past it the oldest finished one no connection
    /// carries is forgotten, else the oldest no connection carries; when every one is carried,
    /// no new stream opens. A finished stream whose connection still takes its last events is
    /// carried too: forgotten, it stayed in `attached` for the session's life, and a DELETE
    /// or a revocation no longer reached its connection.
    let maxStreams: Int

    let metrics: ServerMetrics?

    init(maxEvents: Int, maxBytes: Int, maxStreams: Int = 64, metrics: ServerMetrics? = nil) {
        self.maxEvents = max(1, maxEvents)
        self.maxBytes = max(1024, maxBytes)
        self.maxStreams = max(1, maxStreams)
        self.metrics = metrics
    }

    enum Refusal: Error { case sessionEnded, allStreamsOpen }

    /// A new stream, carried by `live` from its first event (attached under the buffer's lock,
    /// so it is never forgotten in between).
    func newStream(attaching live: SSEStream? = nil) throws(Refusal) -> ResumableStream {
        let made: Result<ResumableStream, Refusal> = state.withLock { state in
            if state.closed { return .failure(.sessionEnded) }
            if state.streams.count >= maxStreams {
                let free = state.streams.keys.filter { !state.attached.contains($0) }
                guard let victim = free.filter({ state.finished.contains($0) }).min() ?? free.min() else {
                    return .failure(.allStreamsOpen)
                }
                state.streams[victim] = nil
                state.finished.remove(victim)
            }
            let stream = ResumableStream(id: state.nextStream, buffer: self, live: live)
            state.nextStream += 1
            state.streams[stream.id] = stream
            if live != nil { state.attached.insert(stream.id) }
            return .success(stream)
        }
        return try made.get()
    }

    /// A connection now carries `id`, or none does; false when the buffer no longer knows
    /// `id` (forgotten, or the session ended): nothing would end a connection carrying it.
    @discardableResult
    fileprivate func setAttached(_ id: Int, _ attached: Bool) -> Bool {
        state.withLock { state in
            guard state.streams[id] != nil else { return false }
            if attached { state.attached.insert(id) } else { state.attached.remove(id) }
            return true
        }
    }

    func stream(_ id: Int) -> ResumableStream? {
        state.withLock { $0.streams[id] }
    }

    func markFinished(_ id: Int) {
        state.withLock { if $0.streams[id] != nil { $0.finished.insert(id) } }
    }

    /// Forgets everything (the session ended); breaks the buffer/stream references, and
    /// ends the connections attached to its streams (after what they have queued, and
    /// `last`, an event saying why, such as `revoked`).
    func clear(last: (event: String, data: String)? = nil) {
        let streams = state.withLock { state in
            defer { state = State(closed: true) }
            return Array(state.streams.values)
        }
        for stream in streams { stream.finish(last: last) }
    }

    func record(_ event: Event) {
        let dropped = state.withLock { state in
            state.events.append(event)
            state.bytes += event.text.utf8.count
            let head = state.head
            // The newest event stays, however large (as one fits an empty `SSEStream` queue):
            // a tool result over the byte cap (a 600 KB object is written twice, as text and
            // as `structuredContent`) used to drop itself with everything else, so exactly the
            // large answers could not be resumed.
            while state.events.count - state.head > 1,
                  state.events.count - state.head > maxEvents || state.bytes > maxBytes {
                state.bytes -= state.events[state.head].text.utf8.count
                state.events[state.head].text = ""
                state.head += 1
            }
            let dropped = state.head - head
            if state.head > 1024, state.head * 2 > state.events.count {
                state.events.removeFirst(state.head)
                state.head = 0
            }
            return dropped
        }
        if dropped > 0 { metrics?.counter(.replayEventsDropped).increment(by: Int64(dropped)) }
    }

    /// The text held in the buffer, dropped events included (for tests: it stays under
    /// `maxBytes`, or the newest event alone when that is larger).
    var heldTextBytes: Int {
        state.withLock { state in state.events.reduce(0) { $0 + $1.text.utf8.count } }
    }

    /// Events of `stream` after `seq` up to its latest, `last`; nil when some of them were
    /// already dropped (the client cannot be resumed without loss), or when `seq` is past
    /// `last` (no such event was sent). Events leave the buffer oldest first, so if `seq + 1`
    /// is still there, so is everything after it.
    func events(of stream: Int, after seq: Int, last: Int) -> [Event]? {
        if seq == last { return [] }
        guard seq < last else { return nil }
        return state.withLock { state in
            let kept = state.events[state.head...].filter { $0.stream == stream && $0.seq > seq }
            guard kept.first?.seq == seq + 1 else { return nil }
            return kept
        }
    }

    /// Parses a `Last-Event-ID` of the form `<stream>-<seq>`.
    static func parse(_ id: String) -> (stream: Int, seq: Int)? {
        let parts = id.split(separator: "-")
        guard parts.count == 2, let stream = Int(parts[0]), let seq = Int(parts[1]), stream > 0, seq >= 0 else { return nil }
        return (stream, seq)
    }
}

/// One logical SSE stream of a session: it outlives the connection that carries it, and
/// forwards each event to whichever connection is attached at the moment.
final class ResumableStream: Sendable {
    let id: Int
    /// Lock order: a stream's lock may be held while taking the buffer's, never the reverse.
    let buffer: ReplayBuffer
    private let state: Mutex<(seq: Int, live: SSEStream?, finished: Bool)>

    fileprivate init(id: Int, buffer: ReplayBuffer, live: SSEStream?) {
        self.id = id
        self.buffer = buffer
        self.state = Mutex((0, live, false))
    }

    var isFinished: Bool { state.withLock { $0.finished } }

    /// The priming event: an id and empty data, so the client can resume from the start;
    /// `retry` tells it how long to wait before reconnecting.
    func prime(retryMilliseconds: Int) {
        send(event: nil, data: "", retry: retryMilliseconds)
    }

    func send(event: String?, data: String, retry: Int? = nil) {
        let (live, text, eventType): (SSEStream?, String, String) = state.withLock { state in
            state.seq += 1
            let text = SSEStream.format(event: event, data: data, id: "\(id)-\(state.seq)", retry: retry)
            buffer.record(.init(stream: id, seq: state.seq, text: text, eventType: event ?? "message"))
            return (state.live, text, event ?? "message")
        }
        live?.sendFormatted(text, eventType: eventType)
    }

    /// Ends the logical stream: the attached connection finishes after what it has queued,
    /// and `last` (not kept for a resume: the session is ending).
    func finish(last: (event: String, data: String)? = nil) {
        let live = state.withLock { state -> SSEStream? in
            state.finished = true
            return state.live
        }
        buffer.markFinished(id)
        if let last { live?.send(event: last.event, data: last.data) }
        live?.finish()
    }

    /// Attaches a connection, replaying what followed `seq` first; false when part of that
    /// was already dropped from the buffer, or the buffer has forgotten this stream since it
    /// was looked up.
    func attach(_ stream: SSEStream, after seq: Int) -> Bool {
        let result: (ok: Bool, finished: Bool, previous: SSEStream?) = state.withLock { state in
            guard let events = buffer.events(of: id, after: seq, last: state.seq), buffer.setAttached(id, true) else {
                return (false, false, nil)
            }
            for event in events { stream.sendFormatted(event.text, eventType: event.eventType, capped: false) }
            let previous = state.live
            state.live = stream
            return (true, state.finished, previous)
        }
        if result.ok, result.previous !== stream { result.previous?.finish() }
        if result.finished { stream.finish() }
        return result.ok
    }

    func detach(_ stream: SSEStream) {
        state.withLock { state in
            guard state.live === stream else { return }
            state.live = nil
            buffer.setAttached(id, false)
        }
    }
}

/// The dispatcher's messages for one request, onto its resumable stream.
struct ResumableOutbound: MCPOutbound {
    let stream: ResumableStream
    func send(_ message: JSONValue, relatedTo request: JSONRPCID?) async {
        stream.send(event: "message", data: message.serializedString())
    }
}
