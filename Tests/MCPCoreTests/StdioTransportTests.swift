#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import Testing
@testable import MCPCore

/// The stdio transport over real pipes (2025-11-25 basic/transports.mdx "stdio": one
/// message per line on stdin and stdout).
@Suite struct StdioTransportTests {
    /// A pipe pair standing in for the server's stdin and stdout.
    final class Pipes: Sendable {
        let input: (read: Int32, write: Int32)
        let output: (read: Int32, write: Int32)

        init() {
            var fds: [Int32] = [0, 0]
            precondition(pipe(&fds) == 0)
            input = (fds[0], fds[1])
            precondition(pipe(&fds) == 0)
            output = (fds[0], fds[1])
        }

        func send(_ line: String) {
            let bytes = Array((line + "\n").utf8)
            precondition(write(input.write, bytes, bytes.count) == bytes.count)
        }

        /// Everything the server wrote, once it has returned.
        func written() -> [JSONValue] {
            close(output.write)
            var all: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(output.read, &buffer, buffer.count)
                if n <= 0 { break }
                all += buffer[0..<n]
            }
            close(output.read)
            close(input.read)
            return all.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONParser.parse(Array($0)) }
        }
    }

    /// A tool "block" that counts its runs, says it started, then waits until cancelled
    /// (and records that it was).
    final class Blocking: Sendable {
        let started = AsyncStream<Void>.makeStream()
        let cancelled = Mutex(false)
        let runs = Mutex(0)

        var tool: ToolDefinition {
            ToolDefinition(name: "block", description: "block", annotations: .readOnly, timeout: .seconds(4)) { _, _ in
                self.runs.withLock { $0 += 1 }
                self.started.continuation.yield()
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    self.cancelled.withLock { $0 = true }
                    throw error
                }
                return .text("late")
            }
        }
    }

    /// Serves `block`'s tool (and `extra`) over fresh pipes in a session that needs no
    /// initialize, and waits until call 1 to the blocking tool is running.
    static func serveWithACallRunning(
        _ block: Blocking, extra: [ToolDefinition] = [], maxConcurrentRequests: Int = 32
    ) async -> (Pipes, Task<Void, Never>) {
        let dispatcher = MCPDispatcher(
            configuration: .init(identity: ServerIdentity(name: "t", version: "1")), registry: ToolRegistry([block.tool] + extra))
        let pipes = Pipes()
        let transport = StdioTransport(
            dispatcher: dispatcher, input: pipes.input.read, output: pipes.output.write, maxConcurrentRequests: maxConcurrentRequests)
        let serving = Task { await transport.run(session: MCPSession(transport: "stdio", requiresInitialize: false)) }
        pipes.send(call(1, "block"))
        var iterator = block.started.stream.makeAsyncIterator()
        await iterator.next()
        return (pipes, serving)
    }

    static func call(_ id: Int, _ tool: String) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)"}}"#
    }

    /// cancellation.mdx: the receiver SHOULD stop processing a cancelled request. At the cap
    /// the reader must still read the notification; only requests wait.
    @Test("at the concurrency cap, notifications/cancelled still reaches the running call")
    func cancelAtTheCap() async throws {
        let block = Blocking()
        let (pipes, serving) = await Self.serveWithACallRunning(block, extra: [Harness.echo], maxConcurrentRequests: 1)
        pipes.send(#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"two"}}}"#)
        pipes.send(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(3)
        while !block.cancelled.withLock({ $0 }), clock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(block.cancelled.withLock { $0 })

        close(pipes.input.write)
        await serving.value
        let answers = pipes.written()
        // The cancelled call gets no answer; the one that waited for its slot does.
        #expect(answers.map { $0["id"] } == [.int(2)])
        #expect(answers.first?["result"]?["content"]?[0]?["text"] == "two")
    }

    /// basic/index.mdx "Requests": an id MUST NOT be reused within the session. A `ping` with
    /// the id of the call still running shared its announcement, and finishing first withdrew
    /// it: the client's cancel of the call then silenced the ping's answer instead, and the
    /// call ran on. It is refused at once; the call can still be cancelled.
    @Test func aRequestReusingARunningIdIsRefused() async throws {
        let block = Blocking()
        let (pipes, serving) = await Self.serveWithACallRunning(block)
        // Lines are taken in order: the ping is refused before the cancel is read.
        pipes.send(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        pipes.send(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(3)
        while !block.cancelled.withLock({ $0 }), clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(block.cancelled.withLock { $0 }, "the running call is still the one a cancel reaches")
        close(pipes.input.write)
        await serving.value
        let answers = pipes.written()
        #expect(answers.count == 1)
        #expect(answers.first?["id"] == .int(1))
        #expect(answers.first?["error"]?["code"] == .int(-32600))
    }

    @Test("a request cancelled while it waits for a slot never runs and is not answered")
    func cancelWhileWaiting() async throws {
        let block = Blocking()
        let (pipes, serving) = await Self.serveWithACallRunning(block, maxConcurrentRequests: 1)
        pipes.send(Self.call(2, "block"))
        pipes.send(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}"#)
        pipes.send(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#)
        close(pipes.input.write)
        await serving.value
        #expect(block.runs.withLock { $0 } == 1)
        #expect(pipes.written().isEmpty)
    }

    /// 2025-11-25 basic/lifecycle.mdx "Shutdown" (stdio): the client ends the connection by
    /// closing the streams. Once stdout is gone no answer can reach anyone: the first failed
    /// write (EPIPE; SIGPIPE is ignored) cancels what runs, and the server returns without
    /// waiting for stdin to end.
    /// A line as long as the cap is a message, ended by LF or by CRLF; one byte more is not.
    @Test("the line cap counts the message, not the CR of a CRLF ending")
    func crlfAtTheCap() async throws {
        let cap = 64
        let dispatcher = MCPDispatcher(configuration: .init(identity: ServerIdentity(name: "t", version: "1"), jsonLimits: .init(maxBytes: cap)),
                                       registry: ToolRegistry([]))
        let pipes = Pipes()
        let transport = StdioTransport(dispatcher: dispatcher, input: pipes.input.read, output: pipes.output.write)
        let serving = Task { await transport.run(session: MCPSession(transport: "stdio", requiresInitialize: false)) }
        func ping(_ id: Int, length: Int) -> String {
            let bare = #"{"jsonrpc":"2.0","id":\#(id),"method":"ping"}"#
            return String(bare.dropLast()) + String(repeating: " ", count: length - bare.utf8.count) + "}"
        }
        pipes.send(ping(1, length: cap) + "\r")
        pipes.send(ping(2, length: cap))
        pipes.send(ping(3, length: cap + 1) + "\r")
        close(pipes.input.write)
        await serving.value
        let answers = pipes.written()
        #expect(answers.compactMap { $0["id"]?.intValue }.sorted() == [1, 2])
        #expect(answers.filter { $0["error"]?["code"] == -32700 }.count == 1)
    }

    /// A parent may hand over pipes it made non-blocking: an empty stdin is not its end, and
    /// a full stdout is waited on (a 100 KB answer outgrows the 64 KiB pipe).
    @Test("stdin and stdout inherited non-blocking: EAGAIN is waited on, not taken for the end")
    func nonBlockingDescriptors() async throws {
        let pipes = Pipes()
        for fd in [pipes.input.read, pipes.output.write] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        let large = ToolDefinition(name: "large", description: "large", annotations: .readOnly) { _, _ in
            .text(String(repeating: "m", count: 100_000))
        }
        let transport = StdioTransport(dispatcher: Harness(tools: [large]).dispatcher, input: pipes.input.read, output: pipes.output.write)
        let serving = Task { await transport.run(session: MCPSession(transport: "stdio", requiresInitialize: false)) }
        // The reader has met the empty pipe by now (it reads at once).
        try await Task.sleep(for: .milliseconds(200))
        pipes.send(Self.call(1, "large"))
        // Drain stdout while the server writes (without blocking, so a server that never
        // answers fails the test at the deadline); the answer is the one line it writes.
        _ = fcntl(pipes.output.read, F_SETFL, fcntl(pipes.output.read, F_GETFL) | O_NONBLOCK)
        let drained = Task.detached { () -> [UInt8] in
            var all: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            let deadline = ContinuousClock.now + .seconds(20)
            while !all.contains(UInt8(ascii: "\n")), ContinuousClock.now < deadline {
                let n = read(pipes.output.read, &buffer, buffer.count)
                if n > 0 { all += buffer[0..<n] } else { usleep(1000) }
            }
            return all
        }
        let answer = try JSONParser.parse(Array(await drained.value.prefix { $0 != UInt8(ascii: "\n") }))
        #expect(answer["id"]?.intValue == 1)
        #expect(answer["result"]?["content"]?[0]?["text"]?.stringValue?.count == 100_000)
        close(pipes.input.write)
        await serving.value
        close(pipes.output.write)
        close(pipes.output.read)
        close(pipes.input.read)
    }

    @Test("a client that closes stdout ends the session: calls cancelled, run returns")
    func outputClosed() async throws {
        let block = Blocking()
        let (pipes, serving) = await Self.serveWithACallRunning(block)
        close(pipes.output.read)
        pipes.send(#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
        let clock = ContinuousClock()
        let begun = clock.now
        await serving.value  // stdin is still open
        #expect(clock.now - begun < .seconds(3))
        #expect(block.cancelled.withLock { $0 })
        close(pipes.output.write)
        close(pipes.input.write)
        close(pipes.input.read)
    }
}
