import Foundation
import Prometheus
import Hummingbird
import MCPCore
import NIOCore
import Synchronization

/// One Server-Sent Events stream (WHATWG HTML §9.2) with a bounded queue.
///
/// Producers (the dispatcher's outbound, the keep-alive timer) never wait: an event is
/// queued or, when the queue has no room for it, the stream is cut off and the client
/// disconnected. The queue holds up to ``capacity`` bytes of events, and besides them one
/// event of any size that does not fit (a tool result is capped by
/// `tools.max_result_bytes`, not by this). The event being written is not queued. So a
/// reader that keeps up takes a large answer while the pings and answers behind it queue,
/// and a second large answer may follow the first while it is still being written; a
/// third large one while the second still waits cuts the stream. A client that
/// stops reading therefore costs at most ``capacity`` bytes plus one large event here, and
/// the event being written (handed down whole, as one write, which `StreamedBodyWriter` waits
/// for once past 64 KiB unconfirmed), never an unbounded buffer (DESIGN.md principle 2).
/// A resumed stream's replay is queued whole past ``capacity`` (the replay buffer bounds it),
/// and the capacity grows by what of it is still unwritten, so a live event behind a replay
/// a reader is taking does not cut the stream.
///
/// The queue (a replay included) is charged to `limits.max_unsent_bytes` (``charge(to:on:)``)
/// with the connection that carries the stream, one holder with the answer its codec is
/// writing (``UnsentAccount``, which charges the event being written, one write, if over
/// 16 KiB): per stream the queue is bounded, but 2048 stalled streams, each with a full queue
/// and a large answer waiting, held gigabytes outside every shared budget. An event taken off
/// the queue is progress, like the kernel taking some of the answer: past 64 KiB unconfirmed
/// the pump waits for the kernel to take what it handed down before it takes the next.
final class SSEStream: Sendable {
    enum End: Sendable { case finished, overflow, closed }

    private struct State {
        var queuedBytes = 0
        /// The one queued event that did not fit ``capacity`` (0: none); part of `queuedBytes`.
        var oversizeBytes = 0
        /// Replayed bytes still queued (they come first, so the first written are theirs).
        var replayBytes = 0
        var end: End?
        var onOverflow: (@Sendable () -> Void)?
        var overflowReported = false
        /// Where the queue is charged, until the pump ends (nil: nowhere, or no longer).
        var charge: Charge?
        var charged = 0

        /// Tells the budget what is queued now. Called under the stream's lock, so two changes
        /// on two threads reach the budget in the order they were made (the budget's lock is
        /// taken after this one, never before it).
        mutating func report() {
            guard let charge, queuedBytes != charged else { return }
            charge.budget.change(queuedBytes - charged, on: charge.channel)
            charged = queuedBytes
        }
    }

    private struct Charge {
        let budget: SharedByteBudget
        let channel: any Channel
    }

    /// An event and whether it is the one queued past the capacity.
    private typealias Queued = (bytes: ByteBuffer, oversize: Bool)
    private let continuation: AsyncStream<Queued>.Continuation
    private let stream: AsyncStream<Queued>
    private let state = Mutex(State())
    let capacity: Int
    let metrics: ServerMetrics?

    init(capacity: Int, metrics: ServerMetrics?) {
        (stream, continuation) = AsyncStream<Queued>.makeStream()
        self.capacity = capacity
        self.metrics = metrics
    }

    /// Queues an event; false when the stream has ended (or just overflowed).
    @discardableResult
    func send(event: String?, data: String, id: String? = nil, retry: Int? = nil) -> Bool {
        sendFormatted(Self.format(event: event, data: data, id: id, retry: retry), eventType: event ?? "message")
    }

    /// Queues an already formatted event (a replayed or resumable one). A replayed one
    /// (`capped: false`) is taken past ``capacity``: the replay buffer bounds it already, and
    /// capped, a resume whose missed events outgrew the queue overflowed before its head was
    /// sent, every time the client retried.
    @discardableResult
    func sendFormatted(_ text: String, eventType: String, capped: Bool = true) -> Bool {
        let sent = enqueue(text, capped: capped)
        if sent { metrics?.counter(.sseEventsSent, eventType).increment() }
        return sent
    }

    static func format(event: String?, data: String, id: String? = nil, retry: Int? = nil) -> String {
        SSEEventFormat.format(event: event, data: data, id: id, retry: retry)
    }

    /// A comment line: keeps proxies and idle timers from closing a quiet stream.
    @discardableResult
    func sendComment(_ text: String) -> Bool {
        enqueue(": \(text)\n\n")
    }

    @discardableResult
    func sendMessage(_ message: JSONValue) -> Bool {
        send(event: "message", data: message.serializedString())
    }

    private enum Admission { case queued(oversize: Bool), refused }

    private func enqueue(_ text: String, capped: Bool = true) -> Bool {
        let bytes = text.utf8.count
        let admission: Admission = state.withLock { state in
            guard state.end == nil else { return .refused }
            var oversize = false
            if capped, state.queuedBytes - state.oversizeBytes + bytes > capacity + state.replayBytes {
                // Past the capacity: in the one place for an event that does not fit, if free.
                guard state.oversizeBytes == 0 else {
                    state.end = .overflow
                    return .refused
                }
                oversize = true
                state.oversizeBytes = bytes
            }
            state.queuedBytes += bytes
            if !capped { state.replayBytes += bytes }
            state.report()
            return .queued(oversize: oversize)
        }
        switch admission {
        case .queued(let oversize):
            continuation.yield((ByteBuffer(string: text), oversize))
            return true
        case .refused:
            reportOverflow()
            return false
        }
    }

    /// Only the send that caused the overflow takes the handler, so it runs once.
    private func reportOverflow() {
        let overflowed: (Bool, (@Sendable () -> Void)?) = state.withLock { state in
            guard state.end == .overflow, !state.overflowReported else { return (false, nil) }
            state.overflowReported = true
            defer { state.onOverflow = nil }
            return (true, state.onOverflow)
        }
        if overflowed.0 {
            metrics?.counter(.sseSlowReaders).increment()
            continuation.finish()
            overflowed.1?()
        }
    }

    /// Runs `handler` when the queue overflows (at once if it already has). The pump cannot
    /// notice the overflow itself: it is parked in a socket write that the stalled reader
    /// never lets finish, so the handler must close the connection from outside.
    func onOverflow(_ handler: @escaping @Sendable () -> Void) {
        let runNow: Bool = state.withLock { state in
            if state.end == .overflow { return true }
            state.onOverflow = handler
            return false
        }
        if runNow { handler() }
    }

    /// Ends the stream after what is queued.
    func finish() {
        state.withLock { if $0.end == nil { $0.end = .finished } }
        continuation.finish()
    }

    /// Ends the stream because the connection closed: nothing more can be delivered.
    func close() {
        state.withLock { if $0.end == nil { $0.end = .closed } }
        continuation.finish()
    }

    var end: End? { state.withLock { $0.end } }

    /// Charges the queue, from now until the pump ends, to `budget` as held by `channel` (the
    /// one closed when the budget chooses this stream).
    func charge(to budget: SharedByteBudget, on channel: any Channel) {
        state.withLock { state in
            state.charge = Charge(budget: budget, channel: channel)
            state.report()
        }
    }

    /// The pump ended: nothing more is written, and the stream is let go of.
    private func releaseCharge() {
        state.withLock { state in
            guard let charge = state.charge else { return }
            state.charge = nil
            charge.budget.change(-state.charged, on: charge.channel)
            state.charged = 0
        }
    }

    deinit {
        // A response whose body never ran (its connection gone first) never pumped.
        releaseCharge()
    }

    /// Writes queued events to the response until the stream ends. Throws when the client
    /// went away; returns how the stream ended.
    @concurrent func pump(into writer: inout any ResponseBodyWriter) async throws -> End {
        defer { releaseCharge() }
        for await (buffer, oversize) in stream {
            // Taken off the queue before it is written: the writer bounds what it has in
            // flight itself. Counted until written, one large event (a 1 MiB tool result) on
            // its way to a reader that keeps up made the next ping pass the capacity, and the
            // stream was cut in the middle of the answer.
            let size = buffer.readableBytes
            // Its write is charged by the codec from here; taken off the queue, a decrease the
            // budget counts as the reader's progress.
            state.withLock { state in
                state.queuedBytes -= size
                if oversize { state.oversizeBytes = 0 }
                state.replayBytes = max(0, state.replayBytes - size)
                state.report()
            }
            try await writer.write(buffer)
        }
        return state.withLock { $0.end } ?? .closed
    }
}

/// Outbound that puts the dispatcher's messages on an SSE stream as `message` events.
struct SSEOutbound: MCPOutbound {
    let stream: SSEStream
    func send(_ message: JSONValue, relatedTo request: JSONRPCID?) async {
        stream.sendMessage(message)
    }
}
