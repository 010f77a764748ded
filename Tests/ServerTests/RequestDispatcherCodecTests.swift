import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Synchronization
import Testing
@testable import MCPServerKit

/// The dispatcher behind the real HTTP/1 codec, bytes in and bytes out (issue 4: parser
/// errors answered 400, graceful shutdown, `Connection: close`; RFC 9112 §9.3.2 pipelining,
/// §9.6 tear-down). The real parser brings what injected parts cannot: its error state
/// (every read after a parse error fails again) and what it does at end of input.
@Suite struct RequestDispatcherCodecTests {
    typealias Started = RequestDispatcherTests.Started

    /// A socket that has not taken the bytes yet: write promises wait until `release`, and
    /// `heldBytes` counts what was written since (what `bufferedWritableBytes` would say).
    final class SlowSocket: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var pending: [EventLoopPromise<Void>] = []
        private(set) var heldBytes = 0
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            heldBytes += unwrapOutboundIn(data).readableBytes
            if let promise { pending.append(promise) }
            context.write(data, promise: nil)
        }
        func release() {
            let promises = pending
            pending = []
            heldBytes = 0
            for promise in promises { promise.succeed() }
        }
        /// The oldest write's promise alone: the bytes written after it are still held.
        func releaseOldest() {
            pending.removeFirst().succeed()
        }
        /// As a socket's pending writes at a close: every held write fails.
        func handlerRemoved(context: ChannelHandlerContext) {
            let promises = pending
            pending = []
            heldBytes = 0
            for promise in promises { promise.fail(ChannelError.ioOnClosedChannel) }
        }
    }

    /// Takes a half-close (EmbeddedChannel closes all of itself for any mode) and counts it.
    final class HalfCloseCatcher: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var outputClosed = 0
        /// Never completes the half-close (as one waiting to send its close_notify).
        var hold = false
        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            guard mode == .output else { return context.close(mode: mode, promise: promise) }
            outputClosed += 1
            if !hold { promise?.succeed() }
        }
    }

    /// Holds flushes until released: what is written stays in the channel's pending writes
    /// (`bufferedWritableBytes`), as an answer still going out to a slow reader.
    final class FlushHolder: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var holding = true
        var context: ChannelHandlerContext?
        func handlerAdded(context: ChannelHandlerContext) { self.context = context }
        func flush(context: ChannelHandlerContext) {
            if !holding { context.flush() }
        }
        func release() {
            holding = false
            context?.flush()
        }
    }

    struct Connection {
        let channel: EmbeddedChannel
        let started: Started

        func send(_ text: String) {
            channel.pipeline.fireChannelRead(ByteBuffer(string: text))
            channel.pipeline.fireChannelReadComplete()
        }

        /// Status lines and bodies written so far, as text.
        func output() -> String {
            channel.embeddedEventLoop.run()  // a response's end is flushed by a task on the loop
            var text = ""
            while let buffer = try? channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }

        func answer(_ index: Int, _ body: String) {
            started[index].sink.writeComplete(HTTPResponse(status: .ok), body: ByteBuffer(string: body))
        }
    }

    func connect(slow: SlowSocket? = nil, refusals: Refusals = Refusals()) throws -> Connection {
        let started = Started()
        let channel = EmbeddedChannel()
        let pipeline = channel.pipeline.syncOperations
        if let slow { try pipeline.addHandler(slow) }
        try pipeline.addHTTPServerCodec()
        try pipeline.addHandler(RequestDispatcher(start: { request, sink in started.record(request, sink) },
                                                  onRefusal: { refusals.record($0) }))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return Connection(channel: channel, started: started)
    }

    func get(_ path: String, _ extra: String = "") -> String { "GET \(path) HTTP/1.1\r\nHost: x\r\n\(extra)\r\n" }

    /// Counts the request and response parts that travel the pipeline past it.
    final class PartCounter: ChannelDuplexHandler {
        typealias InboundIn = HTTPRequestPart
        typealias OutboundIn = HTTPResponsePart
        var parts = 0
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            parts += 1
            context.fireChannelRead(data)
        }
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            parts += 1
            context.write(data, promise: promise)
        }
    }

    /// The dispatcher and the codec hand parts to each other directly (no `NIOAny` wrap and
    /// cast per part): a handler between them sees none, while the request is still answered.
    /// Were the direct path lost, only the speed would show it, but for this test.
    @Test("request and response parts pass between the codec and the dispatcher directly, not through the pipeline")
    func partsPassDirectly() throws {
        let started = Started()
        let counter = PartCounter()
        let channel = EmbeddedChannel()
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHTTPServerCodec()
        try pipeline.addHandler(counter)
        try pipeline.addHandler(RequestDispatcher(start: { request, sink in started.record(request, sink) }))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let c = Connection(channel: channel, started: started)
        c.send(get("/a"))
        try #require(c.started.count == 1)
        c.answer(0, "direct")
        #expect(c.output().hasPrefix("HTTP/1.1 200 OK"))
        #expect(counter.parts == 0)
        _ = try? channel.finish()
    }

    @Test("a malformed request while a response is in progress, then more bytes: that response goes out, then a 400, then the connection closes")
    func parserErrorDuringResponse() throws {
        let refusals = Refusals()
        let c = try connect(refusals: refusals)
        c.send(get("/a"))
        c.send("BOGUS\u{1} / HTTP/1.1\r\n\r\n")
        c.send("more bytes from the client")
        #expect(c.channel.isActive)
        #expect(refusals.statuses.isEmpty)
        c.answer(0, "hello")
        #expect(refusals.statuses == [400])  // counted once, as it is written
        let out = c.output()
        #expect(out.hasPrefix("HTTP/1.1 200 OK"))
        let hello = try #require(out.range(of: "hello")), bad = try #require(out.range(of: "HTTP/1.1 400 Bad Request"))
        #expect(hello.lowerBound < bad.lowerBound)
        #expect(!c.channel.isActive)
    }

    /// A read of small pipelined requests used to be parsed whole, each held as a parsed
    /// request of about a kilobyte: 40 times its bytes, kept while the client did not read.
    @Test("pipelined requests wait as bytes, not parsed: at most one part is held, and all are answered in order")
    func pipelinedRequestsWaitAsBytes() throws {
        let c = try connect()
        let dispatcher = try c.channel.pipeline.syncOperations.handler(type: RequestDispatcher.self)
        let count = 1000
        c.send(get("/first") + String(repeating: get("/next"), count: count))
        #expect(c.started.count == 1)
        #expect(dispatcher.heldCount <= 1)
        for index in 0..<count {
            c.answer(index, "answer\(index) ")
            try #require(c.started.count == index + 2)
            #expect(dispatcher.heldCount <= 1)
        }
        c.answer(count, "last")
        let out = c.output()
        #expect(out.components(separatedBy: "HTTP/1.1 200 OK").count - 1 == count + 1)
        let early = try #require(out.range(of: "answer998 ")), late = try #require(out.range(of: "answer999 ")), last = try #require(out.range(of: "last"))
        #expect(early.lowerBound < late.lowerBound && late.lowerBound < last.lowerBound)
        #expect(c.channel.isActive)
        _ = try? c.channel.finish()
    }

    /// Bytes the codec keeps once nothing waits are the start of the next request: reading
    /// must go on for its rest (held, the connection stalled until the header deadline).
    @Test("after the pipelined requests, part of the next head is kept and reading goes on for the rest")
    func partialHeadAfterPipelinedRequests() throws {
        let started = Started()
        let reads = RequestDispatcherTests.ReadCounter()
        let channel = EmbeddedChannel()
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(reads)
        try pipeline.addHTTPServerCodec()
        try pipeline.addHandler(RequestDispatcher(start: { request, sink in started.record(request, sink) }))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let c = Connection(channel: channel, started: started)
        let next = get("/c")
        c.send(get("/a") + get("/b") + next.prefix(10))
        channel.read()
        let before = reads.reads
        c.answer(0, "first")
        try #require(c.started.count == 2)
        c.answer(1, "second")
        channel.read()
        #expect(reads.reads > before)  // not held: the rest of /c is still to come
        c.send(String(next.dropFirst(10)))
        try #require(c.started.count == 3)
        #expect(c.started[2].request.uri.path == "/c")
        _ = try? channel.finish()
    }

    /// The end of input behind pipelined requests that still wait as bytes comes after them:
    /// taken at once, the parser would have called them a request cut off.
    @Test("end of input after pipelined requests: each is answered, then the connection closes")
    func pipelinedThenEndOfInput() throws {
        let refusals = Refusals()
        let c = try connect(refusals: refusals)
        c.send(get("/a") + get("/b") + get("/c"))
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        c.answer(0, "first")
        try #require(c.started.count == 2)
        c.answer(1, "second")
        try #require(c.started.count == 3)
        #expect(c.channel.isActive)
        c.answer(2, "third")
        let out = c.output()
        #expect(out.components(separatedBy: "HTTP/1.1 200 OK").count - 1 == 3)
        #expect(refusals.statuses.isEmpty)
        #expect(!c.channel.isActive)
    }

    @Test("valid pipelined requests before a malformed one are all answered, in order, then the 400")
    func pipelinedThenGarbage() throws {
        let c = try connect()
        c.send(get("/a") + get("/b") + "\u{1}\u{2} garbage\r\n\r\n")
        #expect(c.started.count == 1)
        c.answer(0, "first")
        try #require(c.started.count == 2)
        #expect(c.started[1].request.uri.path == "/b")
        c.answer(1, "second")
        let out = c.output()
        let first = try #require(out.range(of: "first")), second = try #require(out.range(of: "second")), bad = try #require(out.range(of: "400 Bad Request"))
        #expect(first.lowerBound < second.lowerBound && second.lowerBound < bad.lowerBound)
        #expect(!c.channel.isActive)
    }

    @Test("end of input on an idle connection closes only once the last response is written")
    func endOfInputWaitsForTheLastResponse() throws {
        let slow = SlowSocket()
        let c = try connect(slow: slow)
        c.send(get("/a"))
        c.answer(0, String(repeating: "x", count: 1000))
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(c.channel.isActive)  // the response is still on its way
        slow.release()
        #expect(!c.channel.isActive)
        #expect(c.output().contains(String(repeating: "x", count: 1000)))
    }

    @Test("Connection: close, also in a list or a second field line: the response says so, a request behind it is never started, and the connection closes once it is written",
          arguments: ["Connection: close\r\n", "Connection: keep-alive, Close\r\n", "Connection: keep-alive\r\nConnection: close\r\n"])
    func connectionClose(field: String) throws {
        let slow = SlowSocket()
        let c = try connect(slow: slow)
        c.send(get("/a", field) + get("/b"))
        c.answer(0, "bye")
        #expect(c.started.count == 1)
        #expect(c.channel.isActive)
        slow.release()
        #expect(!c.channel.isActive)
        let out = c.output().lowercased()
        #expect(out.contains("connection: close"))
    }

    @Test("HTTP/1.0 (RFC 9112 §9.3): the connection persists only with the keep-alive option; without it the response says close and the connection closes",
          arguments: [("", false), ("Connection: Keep-Alive\r\n", true), ("Connection: x, keep-alive\r\n", true), ("Connection: keep-alived\r\n", false)])
    func http10(field: String, persists: Bool) throws {
        let c = try connect()
        c.send("GET /a HTTP/1.0\r\n\(field)\r\n")
        c.started[0].sink.writeComplete(HTTPResponse(status: .ok, headerFields: [.contentLength: "3"]), body: ByteBuffer(string: "one"))
        let out = c.output().lowercased()
        #expect(out.contains("connection: close") == !persists)
        #expect(c.channel.isActive == persists)
    }

    @Test("HTTP/1.0 (RFC 9112 §6.1): a response of unknown length has no transfer coding, says close and ends with the connection; one of known length on a kept connection says keep-alive")
    func http10Framing() throws {
        let c = try connect()
        c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        c.started[0].sink.writeComplete(HTTPResponse(status: .ok, headerFields: [.contentLength: "3"]), body: ByteBuffer(string: "one"))
        let first = c.output().lowercased()
        #expect(first.contains("connection: keep-alive\r\n"))
        #expect(c.channel.isActive)
        c.send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        c.answer(1, "two")
        let second = c.output().lowercased()
        #expect(!second.contains("transfer-encoding"))
        #expect(second.contains("connection: close\r\n"))
        #expect(second.hasSuffix("\r\n\r\ntwo"))
        #expect(!c.channel.isActive)
    }

    @Test("HTTP/1.0 keep-alive: a streamed response of unknown length ends with the connection, and a request pipelined behind it is not started (its answer would be lost)")
    func http10StreamedResponseStartsNothingBehindIt() async throws {
        let c = try connect()
        c.send("GET /sse HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        try #require(c.started.count == 1)
        let sink = c.started[0].sink
        try await sink.writeHead(HTTPResponse(status: .ok))
        try await sink.writeBody(ByteBuffer(string: "event"))
        sink.writeEnd(nil)
        let out = c.output().lowercased()
        #expect(out.contains("connection: close\r\n"))
        #expect(out.hasSuffix("\r\n\r\nevent"))
        #expect(!c.channel.isActive)
        #expect(c.started.count == 1)
    }

    @Test("a response that says Connection: close (a 413 whose body is not read) closes the connection once it is written; nothing behind it is started")
    func responseSaysClose() throws {
        let slow = SlowSocket()
        let c = try connect(slow: slow)
        c.send("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"a\":" + get("/next"))
        c.started[0].sink.writeComplete(HTTPResponse(status: .contentTooLarge, headerFields: [.connection: "close"]), body: nil)
        #expect(c.channel.isActive)
        slow.release()
        #expect(!c.channel.isActive)
        #expect(c.started.count == 1)
        #expect(c.output().hasPrefix("HTTP/1.1 413"))
    }

    @Test("graceful shutdown: an idle connection closes at once; a busy one answers the requests already read, then closes")
    func quiesce() throws {
        let idle = try connect()
        idle.send(get("/a"))
        idle.answer(0, "done")
        idle.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        idle.channel.embeddedEventLoop.run()  // the close waits for the response's flush, a task on the loop
        #expect(!idle.channel.isActive)

        let busy = try connect()
        busy.send(get("/a") + get("/b"))
        busy.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(busy.channel.isActive)
        busy.answer(0, "one")
        #expect(busy.channel.isActive)
        try #require(busy.started.count == 2)
        busy.answer(1, "two")
        busy.channel.embeddedEventLoop.run()
        #expect(!busy.channel.isActive)
        let out = busy.output()
        #expect(out.contains("one") && out.contains("two"))
        // RFC 9112 §9.6: the last response before the close says so; the one before it not.
        let responses = out.components(separatedBy: "HTTP/1.1 200 OK")
        try #require(responses.count == 3)
        #expect(!responses[1].lowercased().contains("connection: close"))
        #expect(responses[2].lowercased().contains("connection: close"))
    }

    /// A body not read is not drained either: of any size and at any pace, it was read and
    /// dropped with no cap, and a keep-alive connection waited for its end.
    @Test("an answer given before the body was read says Connection: close, and what follows is not taken for a request")
    func earlyAnswerCloses() throws {
        let c = try connect()
        c.send("POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" + String(repeating: "x", count: 100))
        try #require(c.started.count == 1)
        c.started[0].sink.writeComplete(HTTPResponse(status: .unauthorized, headerFields: [.contentLength: "0"]), body: nil)
        c.send(String(repeating: "x", count: 100) + get("/smuggled"))
        let out = c.output()
        #expect(out.hasPrefix("HTTP/1.1 401"))
        #expect(out.lowercased().contains("connection: close"))
        #expect(c.started.count == 1)
    }

    /// RFC 9110 §10.1.1: a client told no (401) before it sent the body it announced with
    /// `Expect: 100-continue` may give up on it and close: no request, nothing to answer.
    @Test("a client that ends its input inside a body it was told not to send gets no 400 after the answer")
    func noRefusalAfterTheClose() throws {
        let refusals = Refusals()
        let c = try connect(refusals: refusals)
        c.send("POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
        try #require(c.started.count == 1)
        c.started[0].sink.writeComplete(HTTPResponse(status: .unauthorized), body: nil)
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        let out = c.output()
        #expect(out.hasPrefix("HTTP/1.1 401"))
        #expect(!out.contains("400"))
        #expect(refusals.statuses.isEmpty)
    }

    @Test("the codec keeps a connection out of idle while a pipelined request is still to be answered")
    func pipelinedRequestIsNotIdle() throws {
        let deadlines = RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(60), ticket: nil) { _ in }
        let channel = EmbeddedChannel()
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHTTPServerCodec(deadlines: deadlines)
        let started = Started()
        try pipeline.addHandler(RequestDispatcher { request, sink in started.record(request, sink) })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let c = Connection(channel: channel, started: started)
        c.send(get("/a") + get("/b"))
        c.answer(0, "one")
        try #require(c.started.count == 2)
        #expect(deadlines.phase == .inRequest)  // /b is being served, not an idle connection
        c.answer(1, "two")
        #expect(deadlines.phase == .idle)
        _ = try? channel.finish()
    }

    // MARK: requests refused below the dispatcher

    /// A request refused by the codec (head guard, framing, headers over the caps).
    enum Refused: String, CaseIterable, Sendable {
        case noHost, connect, framing, unsupportedCoding, oversizedHeaders

        var request: String {
            switch self {
            case .noHost: "GET /b HTTP/1.1\r\n\r\n"
            case .connect: "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n"
            case .framing: "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"
            case .unsupportedCoding: "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
            case .oversizedHeaders: "GET /b HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 2000))\r\n\r\n"
            }
        }

        var status: UInt {
            switch self {
            case .noHost, .framing: 400
            case .connect: 405
            case .unsupportedCoding: 501
            case .oversizedHeaders: 431
            }
        }

        /// The bytes of its refusal, as the handlers below the dispatcher wrote them.
        var refusal: String {
            func invalid(_ status: String, _ message: String, _ extra: String = "") -> String {
                let body = #"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"\#(message)"}}"#
                return "HTTP/1.1 \(status)\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\(extra)\r\n\(body)"
            }
            switch self {
            case .noHost: return invalid("400 Bad Request", "Bad Request: Host header is required")
            // Only a 2xx to CONNECT starts a tunnel and has no body (RFC 9112 §6.3 item 2):
            // the 405 is framed as any other response.
            case .connect: return invalid("405 Method Not Allowed", "Method Not Allowed: this server is not a proxy", "Allow: GET, POST, DELETE\r\n")
            case .framing: return invalid("400 Bad Request", "Bad Request: chunked is not the final transfer coding")
            // RFC 9112 §6.1: a transfer coding the server does not understand SHOULD be 501.
            case .unsupportedCoding: return invalid("501 Not Implemented", "Not Implemented: transfer coding gzip is not supported")
            case .oversizedHeaders: return "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            }
        }
    }

    /// The statuses of the refusals the dispatcher wrote (what `mcp_http_responses_total` counts).
    final class Refusals: Sendable {
        private let value = Mutex<[UInt]>([])
        var statuses: [UInt] { value.withLock { $0 } }
        func record(_ status: HTTPResponse.Status) { value.withLock { $0.append(UInt(status.code)) } }
    }

    /// The HTTP/1 handler as `PublicChildChannel` installs it (the codec with deadlines),
    /// with a 1 KiB header cap.
    func connectPublic(slow: SlowSocket? = nil, refusals: Refusals = Refusals(),
                       deadlines: RequestDeadlines = RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(60), ticket: nil) { _ in },
                       linger: RequestDispatcher.Linger = .init(), raw: Bool = false,
                       reads: RequestDispatcherTests.ReadCounter? = nil, halfClose: HalfCloseCatcher? = nil,
                       flushes: FlushHolder? = nil, unsent: SharedByteBudget? = nil,
                       pendingBytes: @escaping (any Channel) -> Int = { _ in 0 }) throws -> Connection {
        let started = Started()
        let channel = EmbeddedChannel()
        let pipeline = channel.pipeline.syncOperations
        if let halfClose { try pipeline.addHandler(halfClose) }
        if let flushes { try pipeline.addHandler(flushes) }
        if let reads { try pipeline.addHandler(reads) }
        if let slow { try pipeline.addHandler(slow) }
        // Under the codec, as in PublicChildChannel: a request's first raw byte starts its head.
        if raw { try pipeline.addHandler(RawRequestStartHandler(deadlines: deadlines)) }
        var limits = HTTPRequestParser.Limits()
        limits.maxHeaderBytes = 1024
        try pipeline.addHTTPServerCodec(limits: limits, deadlines: deadlines, unsent: unsent?.account(for: channel, pendingBytes: pendingBytes))
        try pipeline.addHandler(RequestDispatcher(start: { request, sink in started.record(request, sink) },
                                                  onRefusal: { refusals.record($0) }, linger: linger, deadlines: deadlines))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return Connection(channel: channel, started: started)
    }

    @Test("a refused request is never served, alone or behind one that was (what the ops cap protects: OpsAdmission)", arguments: Refused.allCases)
    func refusedRequestIsNeverServed(refused: Refused) throws {
        let ticket = RequestDispatcherTests.ServingTicket()
        let alone = try connectPublic(deadlines: RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(60), ticket: ticket) { _ in })
        alone.send(refused.request)
        _ = alone.output()
        #expect(!alone.channel.isActive)
        #expect(ticket.calls.withLock { $0 }.isEmpty)

        let behind = RequestDispatcherTests.ServingTicket()
        let c = try connectPublic(deadlines: RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(60), ticket: behind) { _ in })
        c.send(get("/a") + refused.request)
        c.answer(0, "first")
        _ = c.output()
        #expect(!c.channel.isActive)
        #expect(behind.calls.withLock { $0 } == [true, false])
    }

    /// Reads are held while a request is served, but at a FIN NIO reads to the end: a client
    /// that pipelined megabytes, left its answer unread and half-closed had all of it kept
    /// unparsed. Past two reads and a head, what is kept is refused whole, after the answer
    /// due, and the connection closes; a little pipelined is served as before.
    @Test func requestsSentFarAheadAreRefused() throws {
        let pipelined = String(repeating: get("/x"), count: 150_000 / get("/x").utf8.count)
        let c = try connectPublic()
        c.send(get("/a"))
        c.send(pipelined)
        c.answer(0, "first")
        let out = c.output()
        #expect(out.hasPrefix("HTTP/1.1 200 OK"))
        #expect(out.contains("HTTP/1.1 400 Bad Request") && out.contains("bytes of requests sent ahead of their answers"), "\(out.prefix(600))")
        #expect(c.started.count == 1, "none of the requests kept was served")
        #expect(!c.channel.isActive)

        let fine = try connectPublic()
        fine.send(get("/a"))
        fine.send(String(repeating: get("/x"), count: 100))
        fine.answer(0, "first")
        #expect(fine.started.count == 2, "a little pipelined is served")
        #expect(fine.channel.isActive)
    }

    @Test("a refused request alone is answered at once, with the same bytes as ever, and the connection closes", arguments: Refused.allCases)
    func refusalAlone(refused: Refused) throws {
        let refusals = Refusals()
        let c = try connectPublic(refusals: refusals)
        c.send(refused.request)
        let out = c.output()
        #expect(out.withoutDate == refused.refusal)
        #expect(out.contains("\r\nDate: ") && out.contains(" GMT\r\n"), "RFC 9110 §6.6.1: Date on a 4xx too")
        #expect(!c.channel.isActive)
        #expect(c.started.count == 0)
        #expect(refusals.statuses == [refused.status])
    }

    @Test("a refused request pipelined behind one still being answered: nothing of the refusal goes out before that response, then it follows, then the connection closes",
          arguments: Refused.allCases)
    func pipelinedRefusal(refused: Refused) throws {
        let first = try connectPublic()
        first.send(get("/a"))
        first.answer(0, "first")
        let response = first.output()

        let slow = SlowSocket()
        let refusals = Refusals()
        let deadlines = RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(60), ticket: nil) { _ in }
        let c = try connectPublic(slow: slow, refusals: refusals, deadlines: deadlines)
        c.send(get("/a") + refused.request)
        #expect(c.started.count == 1)
        var out = c.output()
        #expect(out.isEmpty)
        #expect(c.channel.isActive)
        #expect(refusals.statuses.isEmpty)  // not counted before it is written
        c.answer(0, "first")
        #expect(c.channel.isActive)  // the refusal is still on its way
        #expect(deadlines.phase == .closing)  // not idle between the response and the refusal: it lingers, under the linger alone
        slow.release()
        #expect(!c.channel.isActive)
        out += c.output()
        #expect(out.withoutDate == response + refused.refusal)
        #expect(c.started.count == 1)
        #expect(refusals.statuses == [refused.status])
    }

    @Test("a refusal the client does not read is bounded too: the connection closes when the linger timeout has passed since the refusal was written, and that is counted; a refusal sent at once leaves no timer behind",
          arguments: Refused.allCases)
    func refusalSendIsBounded(refused: Refused) throws {
        let lingerTimeouts = Refusals()
        let slow = SlowSocket()
        let c = try connectPublic(slow: slow, linger: .init(timeout: .seconds(2)) { lingerTimeouts.record(.requestTimeout) })
        c.send(refused.request)
        #expect(c.output().withoutDate == refused.refusal)
        c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(c.channel.isActive)  // its write is still held: the client is not reading
        c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!c.channel.isActive)
        #expect(lingerTimeouts.statuses.count == 1)

        let sent = Refusals()
        let d = try connectPublic(linger: .init(timeout: .seconds(2)) { sent.record(.requestTimeout) })
        d.send(refused.request)
        #expect(d.output().withoutDate == refused.refusal)
        #expect(!d.channel.isActive)
        d.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(sent.statuses.isEmpty)
    }

    @Test("a response after which the connection closes (here: the body failed to parse) is bounded too: a client that does not read it is closed at the linger timeout, and nothing behind it starts")
    func closeAfterResponseIsBounded() throws {
        let lingerTimeouts = Refusals()
        let slow = SlowSocket()
        let c = try connectPublic(slow: slow, linger: .init(timeout: .seconds(2)) { lingerTimeouts.record(.requestTimeout) })
        c.send("POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + get("/next"))
        try #require(c.started.count == 1)
        c.started[0].sink.writeComplete(HTTPResponse(status: .badRequest), body: nil)
        #expect(c.output().hasPrefix("HTTP/1.1 400"))
        c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(c.channel.isActive)  // its write is still held: the client is not reading
        c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!c.channel.isActive)
        #expect(lingerTimeouts.statuses.count == 1)
        #expect(c.started.count == 1)
    }

    /// RFC 9112 §9.6: a client that sends `Connection: close` is answered, then the
    /// connection closes. The answer must not be lost to a deadline shorter than a kept-alive
    /// connection would get for it: the linger's 2 s cut large answers on slow links.
    @Test("a response the client asked to close after gets the idle timeout to go out, not the linger's; what the client sends meanwhile is dropped unparsed and starts no header deadline")
    func closeRequestedAnswerGetsTheIdleTimeout() throws {
        let (phases, deadlines) = Self.recordedDeadlines()
        let lingerTimeouts = Refusals()
        let slow = SlowSocket()
        let c = try connectPublic(slow: slow, deadlines: deadlines,
                                  linger: .init(timeout: .seconds(2)) { lingerTimeouts.record(.requestTimeout) }, raw: true)
        c.send(get("/a", "Connection: close\r\n"))
        try #require(c.started.count == 1)
        c.answer(0, "a large answer")
        #expect(c.output().hasPrefix("HTTP/1.1 200"))
        #expect(deadlines.phase == .closing)
        c.send(get("/b") + "GET /c HTTP/1.1\r\nHo")
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        // The client's FIN meanwhile does not push the bound back.
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(c.channel.isActive)  // the answer's write is still held: past the linger's 2 s and the header deadline's 10 s
        #expect(c.started.count == 1)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!c.channel.isActive)
        #expect(phases.list == ["idle"])
        #expect(lingerTimeouts.statuses.isEmpty)

        // Taken at once, it closes at once, and no timer is left to fire.
        let (quiet, quick) = Self.recordedDeadlines()
        let released = SlowSocket()
        let d = try connectPublic(slow: released, deadlines: quick, raw: true)
        d.send(get("/a", "Connection: close\r\n"))
        d.answer(0, "a")
        _ = d.output()
        #expect(d.channel.isActive)
        released.release()
        #expect(!d.channel.isActive)
        d.channel.embeddedEventLoop.advanceTime(by: .seconds(120))
        #expect(quiet.list.isEmpty)
    }

    /// After an answer given before the body was read, the linger reads only to keep the
    /// kernel from resetting: the requests a client streams meanwhile are not parsed (they
    /// piled up), and their first bytes start no header deadline (which ended the linger
    /// early, counted as `header`).
    @Test("while a connection lingers after an early answer, what comes is dropped unparsed, and only the linger's bound ends it")
    func lingerDropsInput() throws {
        let (phases, deadlines) = Self.recordedDeadlines()
        let lingerTimeouts = Refusals()
        let slow = SlowSocket()
        let c = try connectPublic(slow: slow, deadlines: deadlines,
                                  linger: .init(timeout: .seconds(30)) { lingerTimeouts.record(.requestTimeout) }, raw: true)
        c.send("POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        try #require(c.started.count == 1)
        c.started[0].sink.writeComplete(HTTPResponse(status: .unauthorized), body: nil)
        #expect(c.output().hasPrefix("HTTP/1.1 401"))
        #expect(deadlines.phase == .closing)
        // The rest of the body and the start of a head: its first byte used to arm the header
        // deadline, which cut the linger at 10 s.
        c.send("0\r\n\r\nGET /partial HTTP/1.1\r\nHo")
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(c.channel.isActive)
        #expect(phases.list.isEmpty)
        c.send("st: x\r\n\r\n" + get("/next"))
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(18))
        #expect(c.channel.isActive)
        #expect(c.started.count == 1)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!c.channel.isActive)
        #expect(lingerTimeouts.statuses.count == 1)
        #expect(phases.list.isEmpty)
    }

    /// What follows a request in the same read decides the deadline once it is answered: part
    /// of the next head is under the header deadline from the response's end, not the idle
    /// one; a stray CRLF (RFC 9112 §2.2 lets a server ignore it) leaves the connection idle,
    /// under the idle deadline, not the header one.
    @Test("after a response: part of a head is under the header deadline, a stray CRLF under the idle one",
          arguments: [("GET /b HTTP/1.1\r\nHo", RequestDeadlines.Phase.readingHead, Int64(10), "header"),
                      ("\r\n", RequestDeadlines.Phase.idle, Int64(60), "idle")])
    func deadlineAfterAResponse(tail: String, phase: RequestDeadlines.Phase, seconds: Int64, label: String) throws {
        let (phases, deadlines) = Self.recordedDeadlines()
        let c = try connectPublic(deadlines: deadlines)
        c.send(get("/a") + tail)
        try #require(c.started.count == 1)
        c.answer(0, "a")
        #expect(deadlines.phase == phase)
        #expect(c.output().hasPrefix("HTTP/1.1 200 OK\r\n"))
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(seconds - 1))
        #expect(c.channel.isActive)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!c.channel.isActive)
        #expect(phases.list == [label])
        // RFC 9110 §15.5.9: a head cut off by its deadline is answered 408 (and closed); an
        // idle connection is closed in silence (RFC 9112 §9.8: the client must expect it).
        let after = c.output()
        if label == "header" {
            #expect(after.hasPrefix("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\nDate: "), "\(after)")
            #expect(after.hasSuffix("\r\n\r\n"))
        } else {
            #expect(after == "")
        }
    }

    /// The connection as PublicChildChannel builds it, under a handler that makes the channel
    /// unwritable at each flush (a client that does not read its response).
    /// `rawStart`: with the handler under the codec that starts the header deadline at a
    /// request's first byte, as on a real connection.
    func connectUnwritable(deadlines: RequestDeadlines, rawStart: Bool = false) throws -> Connection {
        let started = Started()
        let channel = EmbeddedChannel()
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(RequestDispatcherTests.UnwritableOnFlush())
        if rawStart { try pipeline.addHandler(RawRequestStartHandler(deadlines: deadlines)) }
        try pipeline.addHTTPServerCodec(deadlines: deadlines)
        try pipeline.addHandler(RequestDispatcher(start: { request, sink in started.record(request, sink) }, deadlines: deadlines))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return Connection(channel: channel, started: started)
    }

    func writable(_ c: Connection) {
        c.channel.isWritable = true
        c.channel.pipeline.fireChannelWritabilityChanged()
    }

    /// Part of a head kept while the response before it waits for the client to read: once
    /// the client has, the header deadline runs for the rest of the head (the drain's end
    /// cleared every deadline, and the head could then trickle for ever).
    @Test("a partial head behind a response the client is slow to take is under the header deadline once it has taken it")
    func partialHeadAfterADrain() throws {
        let (phases, deadlines) = Self.recordedDeadlines()
        let c = try connectUnwritable(deadlines: deadlines)
        c.send(get("/a") + "GET /b HT")
        try #require(c.started.count == 1)
        c.answer(0, "a")
        #expect(!c.channel.isWritable)
        #expect(deadlines.phase != .readingHead)  // waiting for the client, not for a head
        writable(c)
        #expect(deadlines.phase == .readingHead)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(!c.channel.isActive)
        #expect(phases.list == ["header"])
    }

    /// A client that sends its requests one at a time and never reads the answers had each
    /// started as it came: on a plaintext connection (the ops port), where no TLS handler
    /// stops reading at its cap, NIO's queue of unsent answers grew without bound. The next
    /// request now waits until the client has taken the answer before it, like a pipelined
    /// one, and the keep-alive idle deadline runs meanwhile.
    @Test("a request that comes after an answer the client has not taken waits for it, under the idle deadline")
    func aLaterRequestWaitsForTheClientToRead() throws {
        let (phases, deadlines) = Self.recordedDeadlines()
        let c = try connectUnwritable(deadlines: deadlines, rawStart: true)
        c.send(get("/a"))
        try #require(c.started.count == 1)
        c.channel.isWritable = false  // the answers before it are still queued: over NIO's high watermark
        c.answer(0, "a")
        c.send(get("/b"))
        #expect(c.started.count == 1, "started while the client had not taken the answer before it")
        // Not the header deadline (10 s, never extended) for the request waiting: the idle one.
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(c.channel.isActive)
        writable(c)
        #expect(c.started.count == 2)
        #expect(c.channel.isActive)

        // Nothing comes while the client does not read: the idle deadline still closes it.
        let (idle, idleDeadlines) = Self.recordedDeadlines()
        let quiet = try connectUnwritable(deadlines: idleDeadlines)
        quiet.send(get("/a"))
        quiet.channel.isWritable = false
        quiet.answer(0, "a")
        quiet.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(!quiet.channel.isActive)
        #expect(idle.list == ["idle"])
        #expect(phases.list.isEmpty)
    }

    /// What the global cap is told of a connection: idle (may be closed for a newcomer) or not.
    final class IdleTicket: AdmissionTicket {
        let calls = Mutex<[Bool]>([])
        var last: Bool? { calls.withLock { $0.last } }
        func handshakeFinished() {}
        func connectionIdle(_ idle: Bool) { calls.withLock { $0.append(idle) } }
        func serving(_ serving: Bool) {}
    }

    /// A connection whose answer is still going out is not idle: at the global cap a client
    /// still reading a large answer was closed as idle, and got it cut short. Listed once the
    /// bytes are out; the count is taken after the codec hands the answer's last bytes down
    /// (taken at the end's encoding, it saw none of them and listed the connection at once).
    @Test func aConnectionIsIdleOnlyOnceItsAnswerIsOut() throws {
        let ticket = IdleTicket()
        let slow = SlowSocket()
        let deadlines = RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(60), ticket: ticket,
                                         pendingBytes: { _ in slow.heldBytes }) { _ in }
        let c = try connectPublic(slow: slow, deadlines: deadlines)
        c.send(get("/a"))
        c.answer(0, "a large answer")
        _ = c.output()
        #expect(slow.heldBytes > 0)
        #expect(ticket.last != true, "still going out")
        slow.release()
        #expect(ticket.last == true)
        // The next request takes it out of the list; an earlier answer's completion that
        // comes late does not list it again.
        c.send(get("/b"))
        #expect(ticket.last == false)
        c.answer(1, "b")
        _ = c.output()
        #expect(ticket.last != true, "b is still going out")
        c.send(get("/c"))
        #expect(ticket.last == false)
        c.answer(2, "c")
        _ = c.output()
        slow.releaseOldest()
        #expect(ticket.last == false, "b is out, c is not: b's completion does not list the connection")
        slow.release()
        #expect(ticket.last == true)
    }

    /// `limits.max_unsent_bytes`: a large answer counts from when the codec hands it down
    /// until its write completes; past the budget, the connection that has gone longest
    /// without taking any of its answer is closed, here the first of two stalled readers.
    @Test func unsentAnswersShareOneBudget() throws {
        let metrics = ServerMetrics()
        let budget = SharedByteBudget.unsent(capacity: 150_000, metrics: metrics)
        let (slowA, slowB) = (SlowSocket(), SlowSocket())
        let a = try connectPublic(slow: slowA, unsent: budget)
        let b = try connectPublic(slow: slowB, unsent: budget)
        a.send(get("/a"))
        a.answer(0, String(repeating: "a", count: 100_000))
        _ = a.output()
        #expect(budget.total >= 100_000 && budget.total < 100_100, "the body (its head goes down apart, not counted)")
        // A small answer is not counted (no promise of its own: most answers).
        b.send(get("/small"))
        b.answer(0, "small")
        _ = b.output()
        #expect(budget.total < 100_100)
        slowB.release()
        // A second large one passes the budget: the older stalled connection goes.
        b.send(get("/b"))
        b.answer(1, String(repeating: "b", count: 100_000))
        _ = b.output()
        a.channel.embeddedEventLoop.run()
        #expect(!a.channel.isActive)
        #expect(b.channel.isActive)
        #expect(String(decoding: metrics.render(), as: UTF8.self).contains(#"mcp_connections_evicted_total{reason="unsent_bytes"} 1"#))
        // Its write failed at the close: its bytes are no longer counted; b's are until written.
        #expect(budget.total >= 100_000 && budget.total < 100_100)
        slowB.release()
        #expect(budget.total == 0)
    }

    /// An answer is one write, so its count falls only once all of it is out; a connection
    /// whose buffered bytes the kernel takes from meanwhile moves to the back all the same,
    /// and the stalled one is closed first. What the kernel takes at an answer's first flush
    /// (a socket buffer's worth, from a client that never reads too) is not progress: counted
    /// as such, it made the stalled connection look newer than the reader, which was closed.
    @Test func aReaderTakingItsAnswerIsNotTheOneClosed() throws {
        let budget = SharedByteBudget.unsent(capacity: 250_000, metrics: nil)
        final class Pending { var bytes = 0 }
        // What NIO holds for each socket, as the kernel takes from it.
        let (readerPending, stalledPending) = (Pending(), Pending())
        let reader = try connectPublic(slow: SlowSocket(), unsent: budget, pendingBytes: { _ in readerPending.bytes })
        let stalled = try connectPublic(slow: SlowSocket(), unsent: budget, pendingBytes: { _ in stalledPending.bytes })
        let late = try connectPublic(slow: SlowSocket(), unsent: budget)
        reader.send(get("/r"))
        reader.answer(0, String(repeating: "r", count: 100_000))
        _ = reader.output()
        readerPending.bytes = budget.total  // all of it still in NIO
        reader.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        stalled.send(get("/s"))
        stalled.answer(0, String(repeating: "s", count: 100_000))
        _ = stalled.output()
        stalledPending.bytes = 40_000  // the kernel took the rest at the first flush, and then nothing
        // The reader takes part of its answer, and a look sees it; then the stalled one's first look.
        readerPending.bytes -= 40_000
        reader.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        stalled.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        stalled.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        late.send(get("/l"))
        late.answer(0, String(repeating: "l", count: 100_000))
        _ = late.output()
        for c in [reader, stalled, late] { c.channel.embeddedEventLoop.run() }
        #expect(!stalled.channel.isActive)
        #expect(reader.channel.isActive && late.channel.isActive)
    }

    /// A head read while the client had not taken the answer before it started no head
    /// phase: the connection stayed listed as idle while it served that request, the first
    /// the global cap would close.
    @Test func aRequestReadWhileWaitingForTheClientIsNotIdle() throws {
        let ticket = IdleTicket()
        let deadlines = RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(60), ticket: ticket,
                                         pendingBytes: { _ in 0 }) { _ in }
        let c = try connectUnwritable(deadlines: deadlines, rawStart: true)
        c.send(get("/a"))
        c.channel.isWritable = false
        c.answer(0, "a")
        // Listed at the flush of the tick (the answer's bytes are all in the channel then).
        c.channel.embeddedEventLoop.run()
        #expect(ticket.last == true)
        c.send(get("/b"))
        writable(c)
        try #require(c.started.count == 2)
        #expect(ticket.last == false, "serving /b")
    }

    /// The same wait with only part of the next head come: the idle deadline runs while the
    /// client has not taken the answer, and once it has, the header deadline runs for the
    /// rest of the head (the drain must not clear it).
    @Test("part of a head that comes while the client has not taken the answer before it is under the header deadline once it has")
    func aPartialHeadWhileTheClientDoesNotRead() throws {
        let (phases, deadlines) = Self.recordedDeadlines()
        let c = try connectUnwritable(deadlines: deadlines, rawStart: true)
        c.send(get("/a"))
        try #require(c.started.count == 1)
        c.channel.isWritable = false
        c.answer(0, "a")
        c.send("GET /b HT")
        #expect(deadlines.phase == .idle)
        writable(c)
        #expect(deadlines.phase == .readingHead)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(!c.channel.isActive)
        #expect(phases.list == ["header"])
    }

    /// A client that kept pipelining was read on and answered through graceful shutdown,
    /// which it held to the end of the grace period.
    @Test("graceful shutdown reads nothing more: the requests already read are answered, the last says close, and the connection lingers instead of resetting")
    func quiesceStopsReading() throws {
        let reads = RequestDispatcherTests.ReadCounter()
        let lingerTimeouts = Refusals()
        let halfClose = HalfCloseCatcher()
        let c = try connectPublic(linger: .init(timeout: .seconds(30)) { lingerTimeouts.record(.requestTimeout) }, reads: reads,
                                  halfClose: halfClose)
        c.send(get("/a") + get("/b"))
        try #require(c.started.count == 1)
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        let before = reads.reads
        c.channel.read()
        #expect(reads.reads == before)
        c.answer(0, "first")
        try #require(c.started.count == 2)
        c.channel.read()
        #expect(reads.reads == before)
        c.answer(1, "second")
        let out = c.output()
        let responses = out.components(separatedBy: "HTTP/1.1 200 OK")
        try #require(responses.count == 3)
        #expect(!responses[1].lowercased().contains("connection: close"))
        #expect(responses[2].lowercased().contains("connection: close"))
        // Half-closed and reading again, to drop what the client still sends.
        #expect(halfClose.outputClosed == 1)
        #expect(c.channel.isActive)
        #expect(reads.reads > before)
        c.send(get("/c"))
        #expect(c.started.count == 2)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(c.channel.isActive)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!c.channel.isActive)
        #expect(lingerTimeouts.statuses.count == 1)
    }

    /// The client's end of input came while part of a head waited unparsed behind an answer
    /// in progress, so the codec held it back; the shutdown's linger then dropped those bytes
    /// and the end of input with them, and waited out its whole bound for an end that had
    /// already come (counted as a `linger` timeout).
    @Test("graceful shutdown after the client's end of input came behind part of a head: closed once the answer is out, no linger")
    func quiesceAfterAnEndOfInputHeldBehindAPartialHead() throws {
        let lingerTimeouts = Refusals()
        let halfClose = HalfCloseCatcher()
        let c = try connectPublic(linger: .init(timeout: .seconds(30)) { lingerTimeouts.record(.requestTimeout) }, halfClose: halfClose)
        c.send(get("/a") + "GET /b HT")
        try #require(c.started.count == 1)
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        c.answer(0, "first")
        #expect(c.output().lowercased().contains("connection: close"))
        #expect(!c.channel.isActive, "lingered for an end of input that had already come")
        #expect(lingerTimeouts.statuses.isEmpty)
    }

    @Test("graceful shutdown: the answer before the mere start of a head is the last and says so; a whole head behind it is answered")
    func quiesceBeforeAPartialHead() throws {
        // No read held back (none asked for since the shutdown): it lingers all the same,
        // for the client's next requests may be on their way.
        let halfClose = HalfCloseCatcher()
        let partial = try connectPublic(halfClose: halfClose)
        partial.send(get("/a") + "GET /b HTT")
        partial.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        partial.answer(0, "first")
        let out = partial.output()
        #expect(out.hasPrefix("HTTP/1.1 200 OK"))
        #expect(out.lowercased().contains("connection: close"))
        #expect(partial.started.count == 1)
        #expect(halfClose.outputClosed == 1)
        partial.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!partial.channel.isActive)  // the client closed its side: closed at once

        let whole = try connectPublic()
        whole.send(get("/a") + "\r\n" + get("/b"))
        whole.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        whole.answer(0, "first")
        #expect(!whole.output().lowercased().contains("connection: close"))
        try #require(whole.started.count == 2)
        whole.answer(1, "second")
        #expect(whole.output().lowercased().contains("connection: close"))
        #expect(!whole.channel.isActive)
    }

    /// A response whose head went out before the shutdown cannot say close; after it the
    /// connection lingers too. And a quiesce while a connection lingers does not end the
    /// linger with a plain close.
    @Test("graceful shutdown after a response begun before it, and during a linger: the connection lingers to its bound")
    func quiesceLingersAfterAResponseBegunBefore() async throws {
        let halfClose = HalfCloseCatcher()
        let lingerTimeouts = Refusals()
        let c = try connectPublic(linger: .init(timeout: .seconds(30)) { lingerTimeouts.record(.requestTimeout) }, halfClose: halfClose)
        c.send(get("/a"))
        try #require(c.started.count == 1)
        try await c.started[0].sink.writeHead(HTTPResponse(status: .ok))
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        c.started[0].sink.writeEnd(nil)
        let out = c.output()
        #expect(!out.lowercased().contains("connection: close"))
        #expect(halfClose.outputClosed == 1)
        #expect(c.channel.isActive)
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())  // a second one
        c.channel.embeddedEventLoop.run()
        #expect(c.channel.isActive)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(!c.channel.isActive)
        #expect(lingerTimeouts.statuses.count == 1)

        // A half-close that cannot complete is under the writes' bound (the idle timeout,
        // counted as `idle`): the linger starts only once it has.
        let (phases, deadlines) = Self.recordedDeadlines()
        let stuck = HalfCloseCatcher()
        stuck.hold = true
        let d = try connectPublic(deadlines: deadlines, linger: .init(timeout: .seconds(30)) { lingerTimeouts.record(.requestTimeout) },
                                  halfClose: stuck)
        d.send(get("/a"))
        d.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        d.answer(0, "last")
        _ = d.output()
        #expect(stuck.outputClosed == 1)
        d.channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(d.channel.isActive)
        d.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!d.channel.isActive)
        #expect(phases.list == ["idle"])
        #expect(lingerTimeouts.statuses.count == 1)
    }

    /// An idle connection whose last answer is still going out when the shutdown comes
    /// lingers after it too; and the client's end of input during a linger's writes does not
    /// restart their bound.
    @Test("graceful shutdown while an answer is still going out: it lingers after it; the client's FIN meanwhile keeps the writes' bound")
    func quiesceWhileAnAnswerIsStillGoingOut() throws {
        let (phases, deadlines) = Self.recordedDeadlines()
        let halfClose = HalfCloseCatcher()
        let flushes = FlushHolder()
        let c = try connectPublic(deadlines: deadlines, halfClose: halfClose, flushes: flushes)
        c.send(get("/a"))
        c.answer(0, "a")
        c.channel.embeddedEventLoop.run()
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(c.channel.isActive)
        flushes.release()
        _ = c.output()
        #expect(halfClose.outputClosed == 1)  // lingering, not closed
        #expect(c.channel.isActive)

        // The same with the writes held for good: the client's FIN at 30 s does not restart
        // the writes' bound (the idle timeout from the answer's end, 60 s, then, the bytes
        // still waiting and none taken, two idle timeouts more: closed at 180 s, not 210).
        let (phases2, deadlines2) = Self.recordedDeadlines()
        let held = FlushHolder()
        let d = try connectPublic(deadlines: deadlines2, halfClose: HalfCloseCatcher(), flushes: held)
        d.send(get("/a"))
        d.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        d.answer(0, "last")
        d.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        d.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        d.channel.embeddedEventLoop.advanceTime(by: .seconds(149))
        #expect(d.channel.isActive)
        d.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!d.channel.isActive)
        #expect(phases2.list == ["idle"])
        #expect(phases.list.isEmpty)

        // Already closing once written (the client asked to close): the shutdown's quiesce at
        // 30 s does not restart that bound either (closed at 180 s, not 210).
        let (phases3, deadlines3) = Self.recordedDeadlines()
        let e = try connectPublic(deadlines: deadlines3, halfClose: HalfCloseCatcher(), flushes: FlushHolder())
        e.send(get("/a", "Connection: close\r\n"))
        e.answer(0, "last")
        e.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        e.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        e.channel.embeddedEventLoop.advanceTime(by: .seconds(149))
        #expect(e.channel.isActive)
        e.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!e.channel.isActive)
        #expect(phases3.list == ["idle"])
    }

    @Test("graceful shutdown while a request's body is still coming: reading goes on for it, and it is answered")
    func quiesceReadsTheBodyInProgress() throws {
        let reads = RequestDispatcherTests.ReadCounter()
        let c = try connectPublic(reads: reads)
        c.send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        let before = reads.reads
        c.channel.read()
        #expect(reads.reads == before + 1)
        c.send("world")
        try #require(c.started.count == 1)
        c.answer(0, "done")
        let out = c.output()
        #expect(out.hasPrefix("HTTP/1.1 200 OK"))
        #expect(out.lowercased().contains("connection: close"))
        #expect(!c.channel.isActive)
    }

    /// Reading on for that body also reads what the client sent after it: a whole head (and
    /// part of its body) in the same read was taken as a request read before the signal, its
    /// predecessor's answer did not say close, it was started, and its own body kept reading
    /// on, request after request, until the shutdown's grace ran out.
    @Test("graceful shutdown while a body is coming: a request whose head comes with the rest of that body is not started")
    func quiesceTakesNoHeadAfterTheBodyInProgress() throws {
        let c = try connectPublic()
        c.send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        c.send("world" + "POST /q HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhel")
        try #require(c.started.count == 1)
        c.answer(0, "done")
        let out = c.output()
        #expect(out.lowercased().contains("connection: close"))
        #expect(c.started.count == 1, "a request read after the shutdown signal was started")
    }

    @Test("graceful shutdown while a response waits for the client to read: the pipelined request behind it is still answered")
    func quiesceDuringADrain() throws {
        let deadlines = RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(60), ticket: nil) { _ in }
        let c = try connectUnwritable(deadlines: deadlines)
        c.send(get("/a") + get("/b"))
        c.answer(0, "first")
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        c.channel.embeddedEventLoop.run()
        #expect(c.channel.isActive)
        writable(c)
        try #require(c.started.count == 2)
        c.answer(1, "second")
        c.channel.isWritable = true
        let out = c.output()
        #expect(out.contains("first") && out.contains("second"))
        #expect(!c.channel.isActive)
    }

    /// The idle time starts when an answer is queued: a large one read slowly was cut at the
    /// idle timeout mid-answer. While bytes still wait for the socket the deadline is
    /// extended, as long as fewer wait than two idle timeouts before; a client that stops
    /// taking them is closed, counted as `idle`.
    @Test("an answer still going out to a client that keeps reading it is not cut at the idle timeout; one that stops reading is",
          arguments: [false, true])
    func idleDeadlineWaitsForAnAnswerStillGoingOut(closing: Bool) throws {
        let phases = Phases()
        let pending = Mutex(0)
        let deadlines = RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(60), ticket: nil,
                                         pendingBytes: { _ in pending.withLock { $0 } }) { phases.record($0) }
        // Writes complete only when released: the bytes have not all gone out.
        let slow = SlowSocket()
        let c = try connectPublic(slow: slow, deadlines: deadlines)
        // Kept alive (idle after it) or the last answer (closing after it, once written).
        c.send(closing ? get("/a", "Connection: close\r\n") : get("/a"))
        c.answer(0, "a large answer")
        _ = c.output()
        pending.withLock { $0 = 300_000 }
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(c.channel.isActive)  // bytes wait: extended once
        pending.withLock { $0 = 200_000 }
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(c.channel.isActive)  // fewer wait: extended again
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(c.channel.isActive)  // no fewer: one idle timeout's grace (NIO writes in halves)
        pending.withLock { $0 = 100_000 }
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(c.channel.isActive)  // progress again
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(c.channel.isActive)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(c.channel.isActive)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!c.channel.isActive)  // no progress in two idle timeouts
        #expect(phases.list == ["idle"])

        // Nothing waiting: closed at the idle timeout, as before.
        pending.withLock { $0 = 0 }
        let quick = try connectPublic(deadlines: RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(60), ticket: nil,
                                                                  pendingBytes: { _ in pending.withLock { $0 } }) { _ in })
        quick.send(get("/a"))
        quick.answer(0, "a")
        _ = quick.output()
        quick.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(!quick.channel.isActive)
    }

    /// Deadlines of 10 s (header) and 60 s (idle) whose timeouts are recorded by phase.
    static func recordedDeadlines() -> (Phases, RequestDeadlines) {
        let phases = Phases()
        return (phases, RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(60), ticket: nil) { phases.record($0) })
    }

    final class Phases: Sendable {
        private let value = Mutex<[String]>([])
        var list: [String] { value.withLock { $0 } }
        func record(_ phase: String) { value.withLock { $0.append(phase) } }
    }

    @Test("trailers count against the header caps: over them, the body being read fails with the 431 refusal, and the connection closes after the answer")
    func trailersOverTheCaps() async throws {
        let c = try connectPublic()
        c.send("POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
        try #require(c.started.count == 1)
        var iterator = c.started[0].request.body.makeAsyncIterator()
        _ = try await iterator.next()
        c.send("0\r\nX-Big: \(String(repeating: "a", count: 2000))\r\n\r\n")
        do {
            while try await iterator.next() != nil {}
            Issue.record("the body ended without an error")
        } catch let refusal as RequestRefusal {
            #expect(refusal.head.status == .requestHeaderFieldsTooLarge)
        }
        // What RequestRunner answers for that error.
        c.started[0].sink.writeComplete(HTTPResponse(status: .requestHeaderFieldsTooLarge, headerFields: [.contentLength: "0"]), body: nil)
        #expect(c.output().hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(!c.channel.isActive)
    }
}

extension String {
    /// The text without its `Date` field lines (the dispatcher's refusals carry the time).
    var withoutDate: String {
        replacing(/Date: [^\r]*\r\n/, with: "")
    }
}
