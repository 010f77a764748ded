// libFuzzer target: the public listener's HTTP request path, bytes in -> response bytes out,
// in memory (NIOAsyncTestingChannel: no sockets, no TLS).
//
// What runs is the production code: `PublicChildChannel.prepare` (HTTP set up at the first
// request byte, raw-request deadline handler, `HTTPTypesCodec`: `HTTPRequestParser` with the
// configured caps, `RequestHeadGuard`, framing checks, 400/414/431/505 and the response encoding;
// `RequestDispatcher` with a task per request), then `MCPServer.makePublicResponder()` (response metrics, Origin check,
// bearer auth with the failure limiter, the per-client rate limiter, Streamable HTTP, legacy
// SSE and the Go API transports) and the MCP dispatcher with two in-process tools.
// Not covered: the TLS handler (the `tls_server` target), accept-time admission
// (`GateAdmission`, unit-tested in RateLimit) and the listener's accept loop
// (`PublicListener`). `MCPServer.makeServices` builds the child channel the same way as
// `makeChildChannel` here: keep the two in step.
//
// Each input: a fresh server and connection; the bytes are written (split as below), then
// the client sends a FIN and the harness collects the answer until the connection has
// closed and its request tasks have returned, or the output has been quiet for 25 ms (an
// open SSE stream; at most 300 ms), then disconnects. The tasks must then return within 4 s.
//
// Input layout: byte 0 picks options, byte 1 where the bytes are split; the rest is what
// the client sends.
//   bits 0-1  number of channelRead calls (0 and 1: one, 2, 3)
//   bit 2     the client disconnects at once after sending (no FIN, no wait): cancellation
//   bit 3     let the header deadline fire (advance the clock 11 s) before the FIN
//   bit 4     let the keep-alive idle deadline fire (advance 61 s) before the FIN
//   bit 5     POST answers as an SSE stream (`response_mode: sse`) instead of JSON
//   bit 6     resumable streams (Last-Event-ID replay buffers)
//
// Properties beyond "no crash, no ASan report, no hang": the output is empty or starts with
// an HTTP/1.1 status line, and an input that does not contain the token never gets a 2xx
// (no route answers before authentication).

import Auth
import Dispatch
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import MCPCore
@testable import MCPServerKit
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Synchronization

func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("http_pipeline property violated: \(message())") }
}

let token = "fuzz-token-5f2a9c0d"
let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

let echo = ToolDefinition(
    name: "echo",
    description: "Echo a message.",
    inputSchema: ["type": "object", "properties": ["message": ["type": "string"], "times": ["type": "integer", "minimum": 1, "maximum": 3]],
                  "required": ["message"], "additionalProperties": false],
    annotations: .readOnly
) { arguments, _ in
    .text(try arguments.string("message"))
}

let status = BuiltinTools.serverStatus { _ in ["name": "fuzz", "ready": true] }

/// A fresh server per input, so an input's outcome does not depend on the ones before it
/// (sessions, limiter state) and a finding reproduces from its file alone.
func makeServer(mode: UInt8) -> MCPServer {
    let metrics = ServerMetrics()
    var options = ServerOptions(identity: ServerIdentity(name: "fuzz", version: "1.0"))
    options.maxBody = 64 << 10
    options.maxHeaderBytes = 8 << 10
    options.maxHeaderCount = 50
    options.maxSessions = 8
    options.maxSessionsPerToken = 4
    options.maxSSEStreams = 4
    options.maxSSEStreamsPerToken = 2
    options.ssePingInterval = .seconds(5)
    options.responseMode = mode & 0b10_0000 != 0 ? .sse : .json
    options.resumability = mode & 0b100_0000 != 0
    options.replayBufferEvents = 8
    options.replayBufferBytes = 16 << 10
    let dispatcher = MCPDispatcher(
        configuration: .init(identity: options.identity, pageSize: 1, defaultToolTimeout: .seconds(2),
                             jsonLimits: .init(maxDepth: 32, maxBytes: options.maxBody, maxValues: 10_000)),
        registry: ToolRegistry([echo, status]),
        observer: MetricsObserver(metrics: metrics),
        admission: ToolCallAdmission(maxInFlightPerToken: 4, globalMaximum: 8,
                                     toolRate: SharedRateLimiter(name: "tool", ratePerSecond: 100, burst: 20, capacity: 16, metrics: metrics),
                                     metrics: metrics),
        logger: logger)
    let store = try! TokenStore([StoredToken(name: "fuzz", secret: token)])
    let authenticator = TokenAuthenticator(
        store: store, maxHeaderBytes: 1024,
        failureLimit: .init(maxFailures: 5, window: 60_000_000_000, lockout: 60_000_000_000, capacity: 16), metrics: metrics)
    return MCPServer(options: options, dispatcher: dispatcher, authenticator: authenticator,
                     rateLimiter: SharedRateLimiter(name: "request", ratePerSecond: 100, burst: 20, capacity: 16, metrics: metrics),
                     metrics: metrics, logger: logger)
}

/// The public listener's connection as `MCPServer.makeServices` builds it (the same three
/// builder functions), without security and admission (no TLS, no accept gate).
func makeChildChannel(_ server: MCPServer) -> PublicChildChannel {
    server.makeChildChannel(responder: server.makePublicResponder(), security: nil, admission: nil)
}

func drain(_ channel: NIOAsyncTestingChannel, into output: inout [UInt8]) async {
    for _ in 0..<100_000 {
        guard let buffer = try? await channel.readOutbound(as: ByteBuffer.self) else { return }
        output += buffer.readableBytesView
    }
    fatalError("http_pipeline: more than 100000 outbound writes")
}

/// The connection's request tasks (what `OpenConnections.run` tracks in the server).
final class RequestTasks: Sendable {
    private let state = Mutex((pending: 0, tasks: [Task<Void, Never>]()))

    func spawn(_ body: @escaping @Sendable () async -> Void) {
        state.withLock { state in
            state.pending += 1
            state.tasks.append(Task { [self] in
                await body()
                self.state.withLock { $0.pending -= 1 }
            })
        }
    }

    var pending: Int { state.withLock { $0.pending } }

    func waitAll() async {
        for task in state.withLock({ $0.tasks }) { await task.value }
    }
}

/// Set once the connection is closed and no request task is left.
struct Finished: Sendable {
    let channel: NIOAsyncTestingChannel
    let tasks: RequestTasks
    var isSet: Bool { !channel.isActive && tasks.pending == 0 }
}

/// Waits up to `limit` for `finished`; false when it was not set in time. (A task group
/// racing the tasks' `value` against a sleep would wait for the tasks anyway: awaiting a
/// task's value does not end on cancellation.)
func wait(for finished: Finished, within limit: Duration) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while !finished.isSet {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .microseconds(250))
    }
    return true
}

/// Collects the response until the connection is finished (closed, no task left), or the output has been
/// quiet for `quiet` (an open SSE stream: the client then leaves), or `limit` passed.
func settle(_ channel: NIOAsyncTestingChannel, _ finished: Finished, into output: inout [UInt8],
            quiet: Duration, limit: Duration) async -> Bool {
    let start = ContinuousClock.now
    var lastChange = start, lastCount = output.count
    while !finished.isSet {
        await drain(channel, into: &output)
        let now = ContinuousClock.now
        if output.count != lastCount { (lastCount, lastChange) = (output.count, now) }
        if now - start >= limit || now - lastChange >= quiet { return false }
        try? await Task.sleep(for: .microseconds(250))
    }
    return true
}

/// `FUZZ_TRACE=1`: print each step of an input to stderr (to see where one hangs).
let tracing = ProcessInfo.processInfo.environment["FUZZ_TRACE"] != nil
let traceStart = Mutex(ContinuousClock.now)
func trace(_ message: @autoclosure () -> String) {
    guard tracing else { return }
    let elapsed = traceStart.withLock { start in
        defer { start = .now }
        return start.duration(to: .now)
    }
    FileHandle.standardError.write(Data("http_pipeline: +\(elapsed) \(message())\n".utf8))
}

func runOne(_ input: [UInt8]) async {
    guard input.count >= 2 else { return }
    let mode = input[0], splitSeed = Int(input[1])
    let payload = Array(input[2...])
    let chunks = Int(mode & 0b11) == 0 ? 1 : Int(mode & 0b11)
    let abrupt = mode & 0b100 != 0

    trace("start")
    let server = makeServer(mode: mode)
    trace("server made")
    let child = makeChildChannel(server)
    trace("child channel made")
    let channel = NIOAsyncTestingChannel()
    let tasks = RequestTasks()
    do {
        try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.7", port: 40_000))
        channel.remoteAddress = try SocketAddress(ipAddress: "192.0.2.7", port: 40_000)
        // The HTTP layer is installed at the first request byte (FirstRequestSetup).
        // The server runs each request's task on its connection's event loop; the testing loop
        // runs work only when the harness drives it, so here the tasks run on the pool (their
        // writes reach the loop the same way, through ResponseSink).
        // What a listener does per connection: the close tells the connection's watch.
        let watch = ConnectionWatch()
        channel.closeFuture.whenComplete { _ in watch.closed() }
        _ = try await channel.eventLoop.submit {
            try child.prepare(channel: channel, watch: watch, logger: logger, spawner: { _ in ({ body in tasks.spawn(body) }, nil) })
        }.get()
    } catch {
        fatalError("http_pipeline: channel setup: \(error)")
    }
    let finished = Finished(channel: channel, tasks: tasks)
    trace("set up")

    var output: [UInt8] = []
    var cuts: [Int] = []
    if chunks > 1, !payload.isEmpty {
        let first = (splitSeed * payload.count) / 256
        cuts.append(first)
        if chunks > 2 { cuts.append(first + (payload.count - first) / 2) }
    }
    var start = 0
    for end in cuts + [payload.count] where channel.isActive {
        // A parser error surfaces here; the pipeline answers it (400/431) and closes.
        _ = try? await channel.writeInbound(ByteBuffer(bytes: payload[start..<max(start, end)]))
        start = max(start, end)
        // Work a handler submitted from inside the loop (NIO fires channelInactive that way
        // when a handler closes the channel) waits for the next outside submission on the
        // testing loop; a real loop runs it at once.
        await channel.testingEventLoop.run()
    }

    trace("written, active: \(channel.isActive)")
    if !abrupt {
        if mode & 0b1000 != 0 { await channel.testingEventLoop.advanceTime(by: .seconds(11)) }
        if mode & 0b1_0000 != 0 { await channel.testingEventLoop.advanceTime(by: .seconds(61)) }
        if channel.isActive {
            try? await channel.testingEventLoop.executeInContext {
                channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            }
            await channel.testingEventLoop.run()
        }
        // Responses are written by a task; an SSE stream stays open until the client leaves.
        let waitStart = ContinuousClock.now
        let done = await settle(channel, finished, into: &output, quiet: .milliseconds(25), limit: .milliseconds(300))
        trace("connection finished by itself: \(done) after \(ContinuousClock.now - waitStart)")
    }
    await drain(channel, into: &output)
    _ = try? await channel.close()
    trace("closed")
    if !(await wait(for: finished, within: .seconds(4))) {
        fatalError("http_pipeline: a request task did not return within 4 s of the channel closing")
    }
    await tasks.waitAll()
    trace("request tasks returned")
    await drain(channel, into: &output)
    _ = try? await channel.finish(acceptAlreadyClosed: true)
    server.streams.drain()
    server.sessions.removeAll()

    if tracing {
        let statuses = String(decoding: output, as: UTF8.self).split(separator: "\r\n").filter { $0.hasPrefix("HTTP/1.1 ") }
        trace("\(output.count) bytes out, status lines: \(statuses)")
    }
    check(output.isEmpty || output.starts(with: Array("HTTP/1.1 ".utf8)),
          "output does not start with a status line: \(String(decoding: output.prefix(64), as: UTF8.self).debugDescription)")
    if !contains(payload, Array(token.utf8)) {
        let statusLines = ranges(of: Array("HTTP/1.1 2".utf8), in: output)
        check(statusLines == 0, "a 2xx answer to a request without the token:\n\(String(decoding: output.prefix(512), as: UTF8.self))")
    }
}

func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool { ranges(of: needle, in: haystack) > 0 }

func ranges(of needle: [UInt8], in haystack: [UInt8]) -> Int {
    guard !needle.isEmpty, haystack.count >= needle.count else { return 0 }
    var count = 0
    for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
        if haystack[index..<(index + needle.count)].elementsEqual(needle) { count += 1 }
    }
    return count
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        await runOne(input)
        done.signal()
    }
    done.wait()
    return 0
}

// SwiftPM links an executable target with `--defsym main=http_pipeline_main` (its entry point
// renamed so tests could link the module) when it does not know libFuzzer is in the build
// (we pass -sanitize=fuzzer,address through -Xswiftc, see fuzz/run.sh). This is that entry
// point: it hands control to libFuzzer's driver, as libFuzzer's own main would.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("http_pipeline_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv) { data, size in
        fuzzTestOneInput(data ?? UnsafePointer(bitPattern: 1)!, size)
    }
}
