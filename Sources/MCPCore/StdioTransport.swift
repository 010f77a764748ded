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
/// a parse error, so the stream stays in sync. Requests run concurrently, up to
/// ``maxConcurrentRequests``; past that the reader stops taking requests until one finishes,
/// which pushes back on the client through the pipe instead of buffering. Notifications
/// (notably `notifications/cancelled`) are still read and acted on while at the cap.
public final class StdioTransport: Sendable {
    let dispatcher: MCPDispatcher
    let input: Int32
    let output: Int32
    public let maxConcurrentRequests: Int
    let writeLock = Mutex(())

    public init(dispatcher: MCPDispatcher, input: Int32 = 0, output: Int32 = 1, maxConcurrentRequests: Int = 32) {
        self.dispatcher = dispatcher
        self.input = input
        self.output = output
        self.maxConcurrentRequests = max(1, maxConcurrentRequests)
    }

    /// Serves until stdin reaches EOF, then waits for the calls still running and returns.
    public func run(session: MCPSession = MCPSession(transport: "stdio")) async {
        var lines = LineReader(fd: input, maxLineBytes: dispatcher.configuration.jsonLimits.maxBytes)
        let outbound = StdioOutbound(transport: self)
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            while let line = await lines.next() {
                let bytes: [UInt8]
                switch line {
                case .tooLong:
                    let max = dispatcher.configuration.jsonLimits.maxBytes
                    write(JSONRPCError(id: nil, code: .parseError, message: "Parse error: message larger than \(max) bytes").response.serialized())
                    continue
                case .line(let b):
                    bytes = b
                }
                // Notifications are cheap and must get through even at the cap.
                if case .single(.notification(let method, let params)) = JSONRPCFrame.parse(bytes, limits: dispatcher.configuration.jsonLimits) {
                    dispatcher.handle(notification: method, params: params, session: session)
                    continue
                }
                if running >= maxConcurrentRequests {
                    await group.next()
                    running -= 1
                }
                running += 1
                group.addTask {
                    if let response = await self.dispatcher.handle(bytes: bytes, session: session, outbound: outbound) {
                        self.write(response)
                    }
                }
            }
        }
        session.cancelAll()
    }

    /// Writes one message and its newline, whole, under a lock so lines never interleave.
    func write(_ message: [UInt8]) {
        var framed = message
        framed.append(UInt8(ascii: "\n"))
        writeLock.withLock { _ in
            framed.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(output, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR || errno == EAGAIN { continue }
                        return  // the client closed stdout; nothing useful left to do
                    }
                    offset += n
                }
            }
        }
    }
}

struct StdioOutbound: MCPOutbound {
    let transport: StdioTransport
    func send(_ message: JSONValue, relatedTo request: JSONRPCID?) async {
        transport.write(message.serialized())
    }
}

/// Reads newline-delimited lines from a file descriptor on its own thread (a blocking
/// `read` must not occupy one of the few cooperative threads), handing them over one at a
/// time so at most one line waits in memory besides the one being read.
struct LineReader {
    enum Line: Sendable {
        case line([UInt8])
        /// A line over the cap; its bytes were discarded up to the newline.
        case tooLong
    }

    private var iterator: AsyncStream<Line>.Iterator
    private let credits = DispatchSemaphore(value: 1)

    init(fd: Int32, maxLineBytes: Int) {
        let (stream, continuation) = AsyncStream<Line>.makeStream(bufferingPolicy: .unbounded)
        self.iterator = stream.makeAsyncIterator()
        let credits = self.credits
        DispatchQueue(label: "mcp.stdio.reader").async {
            var pending: [UInt8] = []
            var discarding = false
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            func emit(_ line: Line) {
                credits.wait()
                continuation.yield(line)
            }
            readLoop: while true {
                let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    break
                }
                if n == 0 { break }
                var start = 0
                for i in 0..<n where chunk[i] == UInt8(ascii: "\n") {
                    if discarding {
                        discarding = false
                    } else {
                        pending.append(contentsOf: chunk[start..<i])
                        if pending.count > maxLineBytes {
                            emit(.tooLong)
                        } else {
                            if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                            if !pending.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { emit(.line(pending)) }
                        }
                    }
                    pending = []
                    start = i + 1
                }
                if !discarding {
                    pending.append(contentsOf: chunk[start..<n])
                    if pending.count > maxLineBytes {
                        discarding = true
                        pending = []
                        emit(.tooLong)
                    }
                }
            }
            // EOF: a last line without a newline still counts.
            if !discarding, !pending.isEmpty, !pending.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                emit(.line(pending))
            }
            continuation.finish()
        }
    }

    mutating func next() async -> Line? {
        let line = await iterator.next()
        if line != nil { credits.signal() }
        return line
    }
}
