import HTTPTypes
import Hummingbird
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import Synchronization
import Testing
@testable import MCPServerKit

/// The handler-driven request path (issue 4: one request at a time per connection,
/// pipelined requests answered in order, request body backpressure, parser errors answered
/// 400; RFC 9112 §9.3.2 pipelining: responses in the order of the requests).
@Suite struct RequestDispatcherTests {
    /// The requests the dispatcher started, with their sinks (what a task would get).
    final class Started: Sendable {
        let list = Mutex<[(request: Request, sink: ResponseSink)]>([])
        var count: Int { list.withLock { $0.count } }
        subscript(index: Int) -> (request: Request, sink: ResponseSink) { list.withLock { $0[index] } }
        func record(_ request: Request, _ sink: ResponseSink) { list.withLock { $0.append((request, sink)) } }
    }

    /// Counts the reads that get past the dispatcher towards the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    struct Connection {
        let channel: EmbeddedChannel
        let started: Started
        let reads: ReadCounter

        /// Delivers parts as one read (channelRead each, then one channelReadComplete).
        func read(_ parts: HTTPRequestPart...) {
            for part in parts { channel.pipeline.fireChannelRead(part) }
            channel.pipeline.fireChannelReadComplete()
        }

        func written() throws -> [String] {
            channel.embeddedEventLoop.run()  // a response's end is flushed by a task on the loop
            var parts: [String] = []
            while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
                switch part {
                case .head(let head): parts.append("head \(head.status.code)")
                // An empty part writes no bytes: it is the barrier a close waits for.
                case .body(let buffer) where buffer.readableBytes == 0: parts.append("barrier")
                case .body(let buffer): parts.append("body \(String(buffer: buffer))")
                case .end: parts.append("end")
                }
            }
            return parts
        }
    }

    /// Below the dispatcher, as the TLS handler is for a client that stops reading: the
    /// channel is no longer writable once a flush has handed it the bytes, and not before.
    final class UnwritableOnFlush: ChannelOutboundHandler {
        typealias OutboundIn = Any
        func flush(context: ChannelHandlerContext) {
            (context.channel as? EmbeddedChannel)?.isWritable = false
            context.flush()
        }
    }

    /// Counts the flushes that reach it, and calls `onFlush` at each.
    final class FlushCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var flushes = 0
        var onFlush: () -> Void = {}
        func flush(context: ChannelHandlerContext) {
            flushes += 1
            onFlush()
            context.flush()
        }
    }

    func connect(deadlines: RequestDeadlines? = nil, below: [any ChannelHandler] = [], loop: EmbeddedEventLoop = EmbeddedEventLoop(),
                 flusher: ResponseFlusher? = nil) throws -> Connection {
        let started = Started()
        let reads = ReadCounter()
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandlers(below)
        try channel.pipeline.syncOperations.addHandler(reads)
        try channel.pipeline.syncOperations.addHandler(
            RequestDispatcher(start: { request, sink in started.record(request, sink) }, deadlines: deadlines, flusher: flusher))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return Connection(channel: channel, started: started, reads: reads)
    }

    func head(_ path: String = "/mcp", _ fields: HTTPFields = [:]) -> HTTPRequestPart {
        .head(HTTPRequest(method: .post, scheme: nil, authority: "localhost", path: path, headerFields: fields))
    }

    func body(_ text: String) -> HTTPRequestPart { .body(ByteBuffer(string: text)) }

    @Test("a body that came with its head is handed over whole; a pipelined request waits for the response, and reading stops meanwhile")
    func pipelined() async throws {
        let c = try connect()
        c.read(head("/first"), body(#"{"a":"#), body("1}"), .end(nil), head("/second"), .end(nil))
        #expect(c.started.count == 1)
        #expect(c.started[0].request.uri.path == "/first")
        #expect(c.started[0].sink.bodyComplete)  // in hand: collecting it needs no deadline
        #expect(String(buffer: try await c.started[0].request.body.collect(upTo: 100)) == #"{"a":1}"#)

        let before = c.reads.reads
        c.channel.read()
        #expect(c.reads.reads == before)  // held: a request is waiting

        c.started[0].sink.writeComplete(HTTPResponse(status: .ok), body: ByteBuffer(string: "one"))
        #expect(try c.written() == ["head 200", "body one", "end"])
        #expect(c.started.count == 2)
        #expect(c.started[1].request.uri.path == "/second")
        #expect(c.reads.reads == before + 1)  // the held read went out once the queue was empty
        c.started[1].sink.writeComplete(HTTPResponse(status: .accepted), body: nil)
        #expect(try c.written() == ["head 202", "end"])
        #expect(c.channel.isActive)
        _ = try? c.channel.finish()
    }

    /// Held parts of a request whose body outgrows `collectLimit` start its task before the
    /// body's end; the rest of the held body must still reach it, or the task waits for a
    /// body that never comes.
    @Test("a pipelined request whose body is past the collect limit gets all of it once its turn comes")
    func pipelinedLargeBody() async throws {
        let c = try connect()
        let chunk = String(repeating: "x", count: 10_000)
        c.read(head("/first"), .end(nil), head("/second"), body(chunk), body(chunk), body(chunk), .end(nil))
        #expect(c.started.count == 1)
        c.started[0].sink.writeComplete(HTTPResponse(status: .ok), body: nil)
        try #require(c.started.count == 2)
        #expect(!c.started[1].sink.bodyComplete)  // streamed: past the collect limit
        try #require(try c.channel.pipeline.syncOperations.handler(type: RequestDispatcher.self).heldCount == 0)  // else collecting below would wait for ever
        let received = try await c.started[1].request.body.collect(upTo: 100_000)
        #expect(received.readableBytes == 30_000)
        _ = try? c.channel.finish()
    }

    @Test("a pipelined request waits until the client has taken the response before it (the channel is writable again)")
    func pipelinedWaitsForTheClient() throws {
        let c = try connect()
        c.read(head("/first"), .end(nil), head("/second"), .end(nil))
        c.channel.isWritable = false  // NIO's pending writes are over their high watermark
        c.started[0].sink.writeComplete(HTTPResponse(status: .ok), body: ByteBuffer(string: "one"))
        #expect(try c.written() == ["head 200", "body one", "end"])
        #expect(c.started.count == 1)
        c.channel.pipeline.fireChannelWritabilityChanged()  // still not writable: nothing moves
        #expect(c.started.count == 1)
        c.channel.isWritable = true
        c.channel.pipeline.fireChannelWritabilityChanged()
        #expect(c.started.count == 2)
        #expect(c.started[1].request.uri.path == "/second")
        c.started[1].sink.writeComplete(HTTPResponse(status: .accepted), body: nil)
        #expect(try c.written() == ["head 202", "end"])
        #expect(c.channel.isActive)
        _ = try? c.channel.finish()
    }

    /// The response's end is flushed by a loop task; the pipelined request must not go
    /// ahead on the strength of a writability its response has not yet been counted in.
    @Test("that wait looks at the channel after the response ahead of it is flushed")
    func pipelinedWaitFlushesFirst() throws {
        let c = try connect(below: [UnwritableOnFlush()])
        c.read(head("/first"), .end(nil), head("/second"), .end(nil))
        c.started[0].sink.writeComplete(HTTPResponse(status: .ok), body: ByteBuffer(string: "one"))
        #expect(c.started.count == 1, "the second request started while the first response sat unflushed")
        #expect(try c.written() == ["head 200", "body one", "end"])
        c.channel.isWritable = true
        c.channel.pipeline.fireChannelWritabilityChanged()
        #expect(c.started.count == 2)
        _ = try? c.channel.finish()
    }

    /// `ResponseFlusher`: one flush task per loop tick, not one per connection.
    @Test("the responses that end on one loop before its flush task runs are flushed by that one task, after the tasks queued before it; one that ends during that flush is flushed by the next")
    func oneFlushTaskPerLoop() throws {
        let loop = EmbeddedEventLoop()
        let flusher = ResponseFlusher(loop: loop)
        let counters = [FlushCounter(), FlushCounter(), FlushCounter()]
        let connections = try counters.map { try connect(below: [$0], loop: loop, flusher: flusher) }
        for c in connections { c.read(head(), .end(nil)) }
        var seenBefore: [Int] = []
        var seenAfter: [Int] = []
        loop.assumeIsolated().execute { seenBefore = counters.map(\.flushes) }
        connections[0].started[0].sink.writeComplete(HTTPResponse(status: .ok), body: nil)  // queues the flush task
        loop.assumeIsolated().execute { seenAfter = counters.map(\.flushes) }
        connections[1].started[0].sink.writeComplete(HTTPResponse(status: .ok), body: nil)
        counters[0].onFlush = { connections[2].started[0].sink.writeComplete(HTTPResponse(status: .ok), body: nil) }
        #expect(counters.map(\.flushes) == [0, 0, 0])
        loop.run()
        #expect(seenBefore == [0, 0, 0])
        #expect(seenAfter == [1, 1, 0], "the second response was not flushed with the first, by the task queued at the first")
        #expect(counters.map(\.flushes) == [1, 1, 1], "a response that ended during the flush was not flushed")
        for c in connections {
            #expect(try c.written() == ["head 200", "end"])
            _ = try? c.channel.finish()
        }
    }

    @Test("that wait is bounded by the idle timeout, counted as idle; a client that reads in time is not cut off")
    func pipelinedWaitIsBounded() throws {
        for reads in [false, true] {
            let timeouts = Mutex<[String]>([])
            let deadlines = RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(2), ticket: nil) { phase in
                timeouts.withLock { $0.append(phase) }
            }
            let c = try connect(deadlines: deadlines)
            deadlines.headReceived()  // as the codec does for the pipelined request's head
            c.read(head("/first"), .end(nil), head("/second"), .end(nil))
            c.channel.isWritable = false
            c.started[0].sink.writeComplete(HTTPResponse(status: .ok), body: nil)
            _ = try c.written()
            c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1_999))
            #expect(c.channel.isActive)
            if reads {
                c.channel.isWritable = true
                c.channel.pipeline.fireChannelWritabilityChanged()
                #expect(c.started.count == 2)
            }
            c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
            #expect(c.channel.isActive == reads, "reads: \(reads)")
            #expect(timeouts.withLock { $0 } == (reads ? [] : ["idle"]))
            _ = try? c.channel.finish()
        }
    }

    /// What an admission ticket is told of serving (the ops cap evicts a connection that is
    /// not serving: OpsAdmission).
    final class ServingTicket: AdmissionTicket {
        let calls = Mutex<[Bool]>([])
        func handshakeFinished() {}
        func connectionIdle(_ idle: Bool) {}
        func serving(_ serving: Bool) { calls.withLock { $0.append(serving) } }
    }

    @Test("the admission ticket hears serving from a request's task start to its response's end, and not while a pipelined request waits for the client to read")
    func ticketHearsServing() throws {
        let ticket = ServingTicket()
        let deadlines = RequestDeadlines(headerTimeout: .seconds(10), idleTimeout: .seconds(2), ticket: ticket) { _ in }
        let c = try connect(deadlines: deadlines)
        c.read(head("/first"), .end(nil), head("/second"), .end(nil))
        #expect(ticket.calls.withLock { $0 } == [true])
        c.channel.isWritable = false
        c.started[0].sink.writeComplete(HTTPResponse(status: .ok), body: nil)
        _ = try c.written()
        #expect(c.started.count == 1)
        #expect(ticket.calls.withLock { $0 } == [true, false])  // the second is held: waiting
        c.channel.isWritable = true
        c.channel.pipeline.fireChannelWritabilityChanged()
        #expect(ticket.calls.withLock { $0 } == [true, false, true])
        c.started[1].sink.writeComplete(HTTPResponse(status: .ok), body: nil)
        _ = try c.written()
        #expect(ticket.calls.withLock { $0 } == [true, false, true, false])
        _ = try? c.channel.finish()
    }

    @Test("a body that continues in later reads is streamed to the task, and a reader that falls behind stops reading")
    func streamedBody() async throws {
        let c = try connect()
        c.read(head(), body("a"))
        #expect(c.started.count == 1)  // started at the end of the read, not at the body's end
        #expect(!c.started[0].sink.bodyComplete)  // still arriving: collecting it has a deadline
        var iterator = c.started[0].request.body.makeAsyncIterator()
        #expect(try await iterator.next().map { String(buffer: $0) } == "a")

        for part in ["b", "c", "d", "e", "f"] { c.read(body(part)) }
        let before = c.reads.reads
        c.channel.read()
        #expect(c.reads.reads == before)  // above the high watermark: reading stopped

        var rest = ""
        while rest.count < 5, let buffer = try await iterator.next() { rest += String(buffer: buffer) }
        #expect(rest == "bcdef")
        c.channel.embeddedEventLoop.run()  // the reader's "produce more" hops to the loop
        #expect(c.reads.reads == before + 1)

        c.read(.end(nil))
        #expect(try await iterator.next() == nil)
        _ = try? c.channel.finish()
    }

    /// The rest of the body is neither read nor drained (of any size, at any pace, it had no
    /// cap but the header deadline): the connection closes after the answer, lingering.
    @Test("a response sent before the body was read closes the connection after it: nothing after it is served")
    func answeredBeforeBody() throws {
        let c = try connect()
        c.read(head("/big"), body("part 1"))
        c.started[0].sink.writeComplete(HTTPResponse(status: .contentTooLarge), body: nil)
        #expect(try c.written().prefix(2) == ["head 413", "end"])
        c.read(body("part 2"), .end(nil), head("/next"), .end(nil))
        #expect(c.started.count == 1)
        _ = try? c.channel.finish()
    }

    /// A stream's route (an SSE GET) need not read the body its request carries, and its
    /// response may last for hours: that body must not be read and dropped all that time,
    /// with no deadline (the request deadlines pause while a request is served).
    @Test("a task that gives up its body while its response goes on stops the reading, and the connection closes after that response")
    func bodyAbandonedWhileResponding() async throws {
        let c = try connect()
        c.read(head("/sse"), body("a"))
        let sink = c.started[0].sink
        func readOnePartAndLeave() async throws {
            var iterator = c.started[0].request.body.makeAsyncIterator()
            _ = try await iterator.next()
        }
        try await readOnePartAndLeave()
        c.channel.embeddedEventLoop.run()  // the body's "terminated" hops to the loop
        try await sink.writeHead(HTTPResponse(status: .ok))
        try await sink.writeBody(ByteBuffer(string: "event"))
        #expect(try c.written() == ["head 200", "body event"])
        let before = c.reads.reads
        c.read(body("more"))
        c.channel.read()
        #expect(c.reads.reads == before, "the unread body is not read while the response goes on")
        sink.writeEnd(nil)
        #expect(try c.written() == ["end", "barrier"])
        // It would linger (an embedded channel cannot half-close, so it closes at once).
        #expect(!c.channel.isActive)
        #expect(c.started.count == 1)
    }

    @Test("a streamed response is written part by part; a task that ends without finishing it closes the connection, and later writes fail")
    func unfinishedResponseCloses() async throws {
        let c = try connect()
        c.read(head(), .end(nil))
        let sink = c.started[0].sink
        try await sink.writeHead(HTTPResponse(status: .ok))
        try await sink.writeBody(ByteBuffer(string: "event"))
        #expect(try c.written() == ["head 200", "body event"])
        sink.taskEnded()
        #expect(!c.channel.isActive)
        // A stream's pump learns at its next write that the client is gone.
        await #expect(throws: ChannelError.self) { try await sink.writeBody(ByteBuffer(string: "late")) }
    }

    @Test("a task's late calls for an earlier request are ignored")
    func staleSink() throws {
        let c = try connect()
        c.read(head("/a"), .end(nil))
        let first = c.started[0].sink
        first.writeComplete(HTTPResponse(status: .ok), body: nil)
        c.read(head("/b"), .end(nil))
        first.writeComplete(HTTPResponse(status: .internalServerError), body: nil)
        first.taskEnded()
        #expect(try c.written() == ["head 200", "end"])
        #expect(c.channel.isActive)
        _ = try? c.channel.finish()
    }

    @Test("a malformed request with no response in progress is answered 400 and the connection closed")
    func parserErrorWhenIdle() throws {
        let c = try connect()
        c.channel.pipeline.fireUserInboundEventTriggered(RequestRefusal(.badRequest))
        #expect(try c.written() == ["head 400", "end", "barrier"])
        #expect(!c.channel.isActive)
    }

    @Test("a malformed request during a response closes the connection after that response; the body being read fails")
    func parserErrorWhileResponding() async throws {
        let c = try connect()
        c.read(head(), body("{"))
        var iterator = c.started[0].request.body.makeAsyncIterator()
        _ = try await iterator.next()
        c.channel.pipeline.fireUserInboundEventTriggered(RequestRefusal(.badRequest, message: "Bad Request: invalid chunk size"))
        await #expect(throws: RequestRefusal.self) { _ = try await iterator.next() }
        c.started[0].sink.writeComplete(HTTPResponse(status: .badRequest), body: nil)
        #expect(try c.written() == ["head 400", "end", "barrier"])
        #expect(!c.channel.isActive)
    }

    @Test("end of input: an idle connection closes at once; one with a response in progress closes after it")
    func endOfInput() throws {
        let idle = try connect()
        idle.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!idle.channel.isActive)

        let busy = try connect()
        busy.read(head(), .end(nil))
        busy.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(busy.channel.isActive)
        busy.started[0].sink.writeComplete(HTTPResponse(status: .ok), body: nil)
        #expect(try busy.written() == ["head 200", "end", "barrier"])
        #expect(!busy.channel.isActive)
    }
}
