#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// MCP over stdin/stdout (2025-11-25 basic/transports.mdx "stdio"): one JSON-RPC message
/// per line, nothing but MCP messages on stdout, logs on stderr.
///
/// Lines have no fixed cliff (the Go server's scanner stopped at 64 KiB): a line may be as
/// large as the JSON size cap, and a larger one is skipped to its newline and answered with
/// a parse error, so the stream stays in sync.
///
/// Requests run concurrently, up to ``maxConcurrentRequests``. Past that, up to
/// ``maxWaitingRequests`` more wait in memory for a slot while the reader goes on reading,
/// so that notifications, `notifications/cancelled` above all, are acted on at the cap (a
/// cancelled request that is still waiting is dropped unanswered). One request more and the
/// reader stops until a call finishes: that pushes back on the client through the pipe
/// instead of buffering.
///
/// A client that closes stdout ends the session: the calls in flight are cancelled (no
/// answer could reach anyone) and ``run(session:)`` returns.
public final class StdioTransport: Sendable {
    let dispatcher: MCPDispatcher
    let input: Int32
    let output: Int32
    public let maxConcurrentRequests: Int
    public let maxWaitingRequests: Int
    /// Taken around every write, so lines never interleave.
    private let writer = Mutex(Writer())

    struct Writer {
        /// A write failed: the reader of stdout is gone.
        var closed = false
        /// Tells the running ``run(session:)`` that stdout is gone.
        var onClose: (@Sendable () -> Void)?
    }

    /// What the serving loop waits for.
    enum Event: Sendable {
        case line(LineReader.Line)
        case inputEnded
        case callFinished
        case outputClosed
    }

    public init(dispatcher: MCPDispatcher, input: Int32 = 0, output: Int32 = 1, maxConcurrentRequests: Int = 32, maxWaitingRequests: Int = 8) {
        self.dispatcher = dispatcher
        self.input = input
        self.output = output
        self.maxConcurrentRequests = max(1, maxConcurrentRequests)
        self.maxWaitingRequests = max(0, maxWaitingRequests)
    }

    /// Serves until stdin reaches EOF, then waits for the calls still running (and waiting)
    /// and returns; or until stdout is closed, then cancels them and returns.
    public func run(session: MCPSession? = nil) async {
        // Every request that runs is announced and may be in flight: the session takes as many.
        let session = session ?? MCPSession(transport: "stdio", maxInFlight: maxConcurrentRequests)
        // A write to a pipe whose reader is gone raises SIGPIPE, which kills the process
        // unless ignored; ignored, the write fails with EPIPE, which ends the session. NIO
        // ignores it only when it makes its first socket, which stdio may never do.
        signal(SIGPIPE, SIG_IGN)
        // Bounded by the loop, not the buffer: one line per credit, one `callFinished` per
        // call started, one `inputEnded`, one `outputClosed`.
        let (events, sink) = AsyncStream<Event>.makeStream()
        let closedAlready = writer.withLock { writer in
            writer.onClose = { sink.yield(.outputClosed) }
            return writer.closed
        }
        if closedAlready { sink.yield(.outputClosed) }
        let limits = dispatcher.configuration.jsonLimits
        let reader = LineReader(fd: input, maxLineBytes: limits.maxBytes) { line in
            sink.yield(line.map(Event.line) ?? .inputEnded)
        }
        let outbound = StdioOutbound(transport: self)

        await withDiscardingTaskGroup { group in
            var running = 0
            var waiting: [(bytes: [UInt8], id: JSONRPCID?)] = []
            var inputEnded = false
            /// The reader was given no credit for its next line (too many requests wait).
            var held = false
            func start(_ bytes: [UInt8], id: JSONRPCID?) {
                running += 1
                // A cancel this loop reads before the task has tracked the call is kept for it.
                // Fits: at most `maxConcurrentRequests` run, and the session announces as many.
                // A request reusing an id still in use is refused (ids "MUST NOT" be reused
                // within a session): run, it shared the first one's announcement, and the first
                // of them to finish withdrew it from the other, with any cancel it held. The
                // refusal ends like a call, so what waits behind it starts.
                if let id, case .duplicate = session.announce([id]) {
                    write(JSONRPCError(id: id, code: .invalidRequest,
                                       message: "Invalid Request: request id \(id) is already in use").response.serialized())
                    sink.yield(.callFinished)
                    return
                }
                group.addTask {
                    let response = await self.dispatcher.handle(bytes: bytes, session: session, outbound: outbound)
                    let cancelled = id.map { session.withdraw($0) } ?? false
                    if let response, !cancelled { self.write(response) }
                    sink.yield(.callFinished)
                }
            }

            serving: for await event in events {
                switch event {
                case .line(.tooLong):
                    dispatcher.refused(at: .body)
                    write(JSONRPCError(id: nil, code: .parseError, message: "Parse error: message larger than \(limits.maxBytes) bytes").response.serialized())
                    reader.requestNext()
                case .line(.line(let bytes)):
                    let frame = JSONRPCFrame.parse(bytes, limits: limits)
                    if case .single(.notification(let method, let params)) = frame {
                        if method == "notifications/cancelled", let raw = params["requestId"], let id = JSONRPCID(raw) {
                            waiting.removeAll { $0.id == id }
                        }
                        dispatcher.handle(notification: method, params: params, session: session)
                    } else {
                        let id: JSONRPCID? = if case .single(.request(let request)) = frame { request.id } else { nil }
                        if running < maxConcurrentRequests {
                            start(bytes, id: id)
                        } else {
                            waiting.append((bytes, id))
                        }
                    }
                    if waiting.count > maxWaitingRequests {
                        held = true
                    } else {
                        reader.requestNext()
                    }
                case .callFinished:
                    running -= 1
                    if !waiting.isEmpty {
                        let next = waiting.removeFirst()
                        start(next.bytes, id: next.id)
                    }
                    if held, waiting.count <= maxWaitingRequests {
                        held = false
                        reader.requestNext()
                    }
                case .inputEnded:
                    inputEnded = true
                case .outputClosed:
                    break serving
                }
                if inputEnded, running == 0, waiting.isEmpty { break serving }
            }
            // Whatever still runs can answer no one (stdout is gone), or nothing runs.
            session.cancelAll()
            reader.stop()
        }
        sink.finish()
        writer.withLock { $0.onClose = nil }
    }

    /// Writes one message and its newline, whole. A failed write means the client closed
    /// stdout: nothing is written after it, and the session ends.
    func write(_ message: [UInt8]) {
        var framed = message
        framed.append(UInt8(ascii: "\n"))
        let onClose: (@Sendable () -> Void)? = writer.withLock { writer in
            guard !writer.closed else { return nil }
            let written = framed.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(output, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR || (errno == EAGAIN && LineReader.awaitReady(output, events: Int16(POLLOUT))) { continue }
                        return false
                    }
                    offset += n
                }
                return true
            }
            if written { return nil }
            writer.closed = true
            return writer.onClose
        }
        onClose?()
    }
}

struct StdioOutbound: MCPOutbound {
    let transport: StdioTransport
    func send(_ message: JSONValue, relatedTo request: JSONRPCID?) async {
        transport.write(message.serialized())
    }
}

/// Reads newline-delimited lines from a file descriptor on its own thread (a blocking
/// `read` must not occupy one of the few cooperative threads). It hands over one line per
/// credit, and the consumer gives a credit (``requestNext()``) when it wants the next one:
/// at most one line waits in memory besides the one being read, and lines not asked for
/// stay in the pipe.
final class LineReader: Sendable {
    enum Line: Sendable {
        case line([UInt8])
        /// A line over the cap; its bytes were discarded up to the newline.
        case tooLong
    }

    /// Starts at 0 and gets the first credit at once: a semaphore freed below its initial
    /// value traps, and a reader stopped mid-line may keep one.
    private let credits = DispatchSemaphore(value: 0)
    private let stopped = Atomic(false)

    /// Waits until `fd` can be read or written. A descriptor inherited non-blocking (a parent
    /// that set O_NONBLOCK on a shared pipe) answers EAGAIN when empty or full: taken as the
    /// end of input it ended the session, and retried at once it spun a core. A hang-up or
    /// error also wakes it, and the next read or write reports that.
    static func awaitReady(_ fd: Int32, events: Int16) -> Bool {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        while poll(&entry, 1, -1) < 0 {
            if errno != EINTR { return false }
        }
        return true
    }

    /// `deliver` gets each line, then nil at the end of input (or a read error).
    init(fd: Int32, maxLineBytes: Int, deliver: @escaping @Sendable (Line?) -> Void) {
        let credits = self.credits
        credits.signal()
        DispatchQueue(label: "mcp.stdio.reader").async { [self] in
            var pending: [UInt8] = []
            var discarding = false
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            /// False once the consumer stopped reading.
            func emit(_ line: Line) -> Bool {
                credits.wait()
                if stopped.load(ordering: .acquiring) { return false }
                deliver(line)
                return true
            }
            readLoop: while !stopped.load(ordering: .acquiring) {
                let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
                if n < 0 {
                    if errno == EINTR || (errno == EAGAIN && Self.awaitReady(fd, events: Int16(POLLIN))) { continue }
                    break
                }
                if n == 0 { break }
                var start = 0
                for i in 0..<n where chunk[i] == UInt8(ascii: "\n") {
                    if discarding {
                        discarding = false
                    } else {
                        pending.append(contentsOf: chunk[start..<i])
                        // The CR of a CRLF ending is no part of the message, nor of its size.
                        if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                        if pending.count > maxLineBytes {
                            guard emit(.tooLong) else { return }
                        } else {
                            if !pending.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                                guard emit(.line(pending)) else { return }
                            }
                        }
                    }
                    pending = []
                    start = i + 1
                }
                if !discarding {
                    pending.append(contentsOf: chunk[start..<n])
                    // A CR may yet be a CRLF ending: one byte more before the line is too long.
                    if pending.count > maxLineBytes + (pending.last == UInt8(ascii: "\r") ? 1 : 0) {
                        discarding = true
                        pending = []
                        guard emit(.tooLong) else { return }
                    }
                }
            }
            // EOF: a last line without a newline still counts.
            if !discarding, !pending.isEmpty, !pending.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                guard emit(.line(pending)) else { return }
            }
            deliver(nil)
        }
    }

    /// The consumer is ready for the next line.
    func requestNext() {
        credits.signal()
    }

    /// No more lines are wanted. A `read` in progress still finishes (it cannot be
    /// interrupted); nothing is delivered after it.
    func stop() {
        stopped.store(true, ordering: .releasing)
        credits.signal()
    }
}
