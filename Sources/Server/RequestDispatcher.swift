import DequeModule
import HTTPTypes
import Hummingbird
import HummingbirdCore
import MCPCore
import NIOCore
import NIOHTTPTypes

/// The top of a public connection's pipeline: turns decoded request parts into requests,
/// starts a task for each, and writes its response. HTTP/1.1 serves one request at a time
/// on a connection; parts of later (pipelined) requests wait here, and reading stops while
/// they do.
///
/// Why a handler rather than one task per connection reading an `NIOAsyncChannel` (what
/// Hummingbird's HTTP/1 channel does): that task lives as long as the connection and keeps
/// every task-allocator slab it ever used, so an idle keep-alive connection held ≈ 13 KiB
/// and an SSE stream carried the frames of the loop above its pump; and each request
/// crossed two async sequences (inbound parts, outbound writer). Here a connection between
/// requests holds no task; a request's task ends with its response, and a streamed body
/// (SSE) is written from a task of its own that starts at the body.
///
/// A request whose body arrives in the same read as its head (nearly every MCP POST) gets
/// it as one buffer; a longer body is streamed to the task with backpressure (reading stops
/// while the task has two unread parts, as with Hummingbird's request body).
///
/// Everything here runs on the connection's event loop; tasks reach it through
/// ``ResponseSink`` and the body's delegate, which hop to the loop.
final class RequestDispatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Starts the task that answers a request (tracked for graceful shutdown).
    typealias Start = @Sendable (Request, ResponseSink) -> Void

    typealias BodyProducer = NIOThrowingAsyncSequenceProducer<ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, BodyDelegate>

    /// The current request's body, as it arrives.
    private enum Inbound {
        /// No request is being read (none yet, or its `.end` has arrived).
        case none
        /// Head seen in this read; the task starts at the body's end or at the end of the read.
        case collecting(HTTPRequest, ByteBuffer?)
        /// The task has started; body parts go to it.
        case streaming(BodyProducer.Source)
        /// The task no longer reads its body (it answered without it): parts are dropped.
        case discarding
    }

    /// A body collected within one read beyond this is streamed instead.
    static let collectLimit = 16 * 1024

    private let start: Start
    private var inbound = Inbound.none
    /// Counts requests; a task's sink and body carry their number so late calls are ignored.
    private var request = 0
    /// A request's task has the response and has not ended it.
    private var responding = false
    /// What came after the request in progress: parts of later requests, in order, and a
    /// refused request's place (answered with its refusal when its turn comes).
    private enum Held {
        case part(HTTPRequestPart)
        case refused(RequestRefusal)
    }

    /// Later requests, held until the response in progress ends.
    private var held = Deque<Held>()
    /// Held requests wait for the client to take the response before them
    /// (``channelWritabilityChanged(context:)``).
    private var awaitingDrain = false
    /// Bounds that wait (nil: unbounded, in tests).
    private let deadlines: RequestDeadlines?
    /// A `read` was held back (later requests waiting, or the body's reader is full).
    private var readHeld = false
    private var bodyPaused = false
    private var inputClosed = false
    /// Set by `Connection: close` in a request or its response (e.g. a 413 whose body is not
    /// read: closing beats draining it), or a parser error while a request was served.
    private var closeAfterResponse = false
    /// ``closeWhenWritten(context:)`` has run: the close waits for the writes, under its bound.
    private var closeArmed = false
    /// Graceful shutdown: close once the requests already read are answered. Nothing more is
    /// read but the body of a request in progress: a client that kept pipelining was read on,
    /// and could hold the connection, and so the shutdown, to the end of the grace period.
    private var quiescing = false
    /// A request was refused (the decoder failed, or a handler below refused it): nothing
    /// after it is read or answered (a failed decoder's later input only repeats its error).
    private var refused = false
    /// The refusal is written and our side closed: input is read and dropped until the
    /// client closes its side (``lingerThenClose(context:)``).
    private var lingering = false
    /// ``lingerThenClose(context:writesWithinIdleTimeout:)`` has begun (its writes may still
    /// be going out): only the client's end of input or the linger's bound ends it.
    private var lingerStarted = false
    /// The connection closes after the response that just ended: nothing more is started,
    /// and what still arrives is not read until the close (or the linger) takes over.
    private var closing = false

    /// How long a refused connection lingers (``lingerThenClose(context:)``), and what is told
    /// when that time is over with the client still connected (`limits.linger_timeout`,
    /// `mcp_timeouts_total{phase="linger"}`).
    struct Linger: Sendable {
        var timeout = TimeAmount.seconds(2)
        var onTimeout: @Sendable () -> Void = {}
    }
    private let linger: Linger
    private var lingerDeadline: Scheduled<Void>?
    /// A flush is queued on the loop (``flushSoon(context:)``).
    private var flushQueued = false
    /// Shared with the listener's other connections on this loop; one of its own when none is given.
    private var flusher: ResponseFlusher?
    private var context: ChannelHandlerContext?
    /// The codec below, written to directly (``send(_:promise:context:)``).
    private var codec: HTTPTypesCodec?

    /// Told the status of every refusal written here (parser errors, and what the handlers
    /// below refused), for `mcp_http_responses_total`: those never reach ``RequestGate``'s
    /// response counter, and one that is never written (the connection closed first) is not
    /// counted.
    private let onRefusal: @Sendable (HTTPResponse.Status) -> Void
    /// Told when the client's input ends: the connection's watch
    /// (``ConnectionWatch/inputEnded()``), which cancels a 2026-07-28 or Go API call there.
    private let onInputClosed: (@Sendable () -> Void)?

    init(start: @escaping Start, onRefusal: @escaping @Sendable (HTTPResponse.Status) -> Void = { _ in }, linger: Linger = Linger(),
         deadlines: RequestDeadlines? = nil, flusher: ResponseFlusher? = nil, onInputClosed: (@Sendable () -> Void)? = nil) {
        self.start = start
        self.onInputClosed = onInputClosed
        self.flusher = flusher
        self.deadlines = deadlines
        self.onRefusal = onRefusal
        self.linger = linger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if flusher == nil { flusher = ResponseFlusher(loop: context.eventLoop) }
        codec = try? context.pipeline.syncOperations.handler(type: HTTPTypesCodec.self)
        codec?.attach(self, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        codec?.detach()
        codec = nil
    }

    /// Hands a response part to the codec, directly when it is in the pipeline: it sits right
    /// below this handler (``PublicChildChannel`` adds the two back to back), so the part would
    /// reach it next anyway. A handler put between them would see no parts, either way, while
    /// flushes, closes and events still pass through it.
    private func send(_ part: HTTPResponsePart, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        if let codec, codec.encode(part, promise: promise) { return }
        context.write(wrapOutboundOut(part), promise: promise)
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        receive(unwrapInboundIn(data), context: context)
    }

    /// A part handed up now would be held: a response is in progress (or waits for the client
    /// to take it) and the next request's head has come, or one is held already.
    /// ``HTTPTypesCodec`` then leaves the rest of its input unparsed, so what is held is at
    /// most one part (and refusals).
    var holdsParts: Bool {
        if !held.isEmpty || awaitingDrain { return true }
        if case .none = inbound { return responding }
        return false
    }

    /// Reading waits: a later request waits (held, or as bytes the codec was told not to
    /// parse), the body's reader is full, or the connection is done with requests. Bytes the
    /// codec keeps while nothing is held are part of a request still to come, and reading
    /// goes on for the rest of it.
    private var readsWait: Bool {
        !held.isEmpty || bodyPaused || refused || closing || awaitingDrain || (holdsParts && codec?.hasUnparsedInput == true)
            || (quiescing && !readingBody)
    }

    /// A request's body is still to come: read on, even at graceful shutdown, for it is answered.
    private var readingBody: Bool {
        switch inbound {
        case .collecting, .streaming: true
        case .none, .discarding: false
        }
    }

    /// Parts and refusals held (tests).
    var heldCount: Int { held.count }

    /// A later request waits, held here or as bytes in the codec.
    private var laterRequestWaits: Bool { !held.isEmpty || (codec?.hasUnparsedInput ?? false) }

    /// A request part from the codec: called by it directly (``HTTPTypesCodec/attach(_:context:)``)
    /// or through ``channelRead(context:data:)``.
    func receive(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        if closing {
            return
        } else if !held.isEmpty {
            held.append(.part(part))
        } else if case .none = inbound, responding || awaitingDrain {
            held.append(.part(part))
        } else {
            process(part, context: context)
        }
    }

    /// Takes a part of the request being read, or the head of the next one (only when no
    /// response is in progress).
    private func process(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch inbound {
        case .none:
            guard case .head(let head) = part else {
                // The codec never sends a body outside a request; if it did, give up.
                context.close(promise: nil)
                return
            }
            request += 1
            if Self.asksToClose(head.headerFields) { closeAfterResponse = true }
            inbound = .collecting(head, nil)
        case .collecting(let head, var body):
            switch part {
            case .body(var buffer):
                if body == nil {
                    body = buffer
                } else {
                    body!.writeBuffer(&buffer)
                }
                inbound = .collecting(head, body)
                if body!.readableBytes > Self.collectLimit { startStreaming(context: context) }
            case .end:
                inbound = .none
                let whole = body ?? ByteBuffer()
                startTask(head, body: RequestBody(buffer: whole), complete: whole, context: context)
            case .head:
                context.close(promise: nil)
            }
        case .streaming(let source):
            switch part {
            case .body(let buffer):
                if source.yield(buffer) == .stopProducing { bodyPaused = true }
            case .end:
                inbound = .none
                bodyPaused = false
                source.finish()
            case .head:
                context.close(promise: nil)
            }
        case .discarding:
            if case .end = part { inbound = .none }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // The body did not all come with the head: stream the rest to the request's task.
        if case .collecting = inbound { startStreaming(context: context) }
    }

    private func startStreaming(context: ChannelHandlerContext) {
        guard case .collecting(let head, let body) = inbound else { return }
        let producer = BodyProducer.makeSequence(
            backPressureStrategy: .init(lowWatermark: 2, highWatermark: 4), finishOnDeinit: false,
            delegate: BodyDelegate(dispatcher: NIOLoopBound(self, eventLoop: context.eventLoop), request: request))
        inbound = .streaming(producer.source)
        if let body, producer.source.yield(body) == .stopProducing { bodyPaused = true }
        startTask(head, body: RequestBody(asyncSequence: producer.sequence), complete: nil, context: context)
    }

    private func startTask(_ head: HTTPRequest, body: RequestBody, complete: ByteBuffer?, context: ChannelHandlerContext) {
        responding = true
        deadlines?.serving(true)
        let sink = ResponseSink(dispatcher: NIOLoopBound(self, eventLoop: context.eventLoop), channel: context.channel,
                                request: request, completeBody: complete)
        start(Request(head: head, body: body), sink)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed:
            inputClosed = true
            endBody(with: ChannelError.eof)
            onInputClosed?()
            closeIfDone(context: context)
        case let refusal as RequestRefusal:
            refuse(refusal, failing: refusal, context: context)
            return
        case is ChannelShouldQuiesceEvent:
            // Graceful shutdown: idle connections close now, busy ones once the requests
            // already read are answered.
            quiescing = true
            // A request whose body is still coming is the last: what is read after that body
            // (a head sent with its rest) was read after the signal.
            if readingBody { closeAfterResponse = true }
            // An answer still going out (its end queued before the signal, maybe not flushed
            // yet) is followed by the linger too: a pipelined request arriving after it,
            // unread, would reset the connection and could destroy the answer's tail.
            closeIfDone(context: context, afterResponse: flushQueued || RequestDeadlines.bufferedBytes(context.channel) > 0)
            return
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A request the codec cannot read comes as a ``RequestRefusal`` event, answered in its
    /// turn; an error is the connection's own (TLS, I/O): the body being read fails and the
    /// connection closes.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        endBody(with: error)
        context.close(promise: nil)
    }

    /// A malformed or refused request: answered `refusal` in its turn, after the requests
    /// before it, and then the connection closes. If it is the request being read, its body
    /// fails with `error` and its task answers; the connection closes after that answer.
    private func refuse(_ refusal: RequestRefusal, failing error: any Error, context: ChannelHandlerContext) {
        // Once the connection is closing (a response said so, or it lingers), what the client
        // still sends is no request: a client that gives up on a body it was told not to send
        // (`Expect: 100-continue` answered 401) got an unsolicited, counted 400.
        guard !refused, !closing, !lingering else { return }
        refused = true
        if !held.isEmpty {
            held.append(.refused(refusal))
            return
        }
        switch inbound {
        case .none:
            if responding {
                held.append(.refused(refusal))
            } else {
                writeRefusal(refusal, context: context)
            }
        case .collecting:
            startStreaming(context: context)
            failBody(with: error)
        case .streaming:
            failBody(with: error)
        case .discarding:
            if responding {
                closeAfterResponse = true
            } else {
                writeRefusal(refusal, context: context)
            }
        }
    }

    private func failBody(with error: any Error) {
        endBody(with: error)
        inbound = .discarding
        closeAfterResponse = true
    }

    func channelInactive(context: ChannelHandlerContext) {
        lingerDeadline?.cancel()
        lingerDeadline = nil
        endBody(with: ChannelError.eof)
        held.removeAll()
        context.fireChannelInactive()
    }

    private func endBody(with error: any Error) {
        if case .streaming(let source) = inbound {
            source.finish(error)
            inbound = .none
        }
        bodyPaused = false
    }

    // MARK: outbound

    func read(context: ChannelHandlerContext) {
        if lingering {
            context.read()
        } else if readsWait {
            readHeld = true
        } else {
            context.read()
        }
    }

    private func resumeReading(context: ChannelHandlerContext) {
        if readHeld, !readsWait {
            readHeld = false
            context.read()
        }
    }

    fileprivate func bodyWantsMore(request: Int) {
        guard request == self.request, let context else { return }
        bodyPaused = false
        resumeReading(context: context)
    }

    fileprivate func bodyAbandoned(request: Int) {
        guard request == self.request, let context else { return }
        if case .streaming = inbound, responding {
            // Given up while its response goes on (a stream's route need not read the body its
            // request carries, and may answer for hours): the rest is left unread rather than
            // read and dropped with no deadline, and the connection closes after the response.
            inbound = .discarding
            closeAfterResponse = true
            bodyPaused = true
            return
        }
        bodyPaused = false
        resumeReading(context: context)
    }

    /// Writes parts of request `request`'s response; the `.end` part ends it.
    fileprivate func write(_ parts: ResponseParts, request: Int, promise: EventLoopPromise<Void>?) {
        guard request == self.request, responding, let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch parts {
        case .head(let head):
            send(.head(markClosing(head)), promise: promise, context: context)
            context.flush()
        case .body(let buffer):
            send(.body(buffer), promise: promise, context: context)
            context.flush()
        case .complete(let head, let body):
            send(.head(markClosing(head)), promise: nil, context: context)
            if let body { send(.body(body), promise: nil, context: context) }
            writeEnd(.end(nil), promise: promise, context: context)
            responseEnded(context: context)
        case .end(let trailers):
            writeEnd(.end(trailers), promise: promise, context: context)
            responseEnded(context: context)
        }
    }

    /// RFC 9112 §9.6: a response that says `Connection: close` closes the connection after
    /// it, and a response after which the connection closes says so.
    private func markClosing(_ head: HTTPResponse) -> HTTPResponse {
        if Self.asksToClose(head.headerFields) { closeAfterResponse = true }
        // A final answer given before the body was read (a 401, 404 or 429 from the checks
        // before the route) closes the connection: the rest of the body, of any size and at
        // any pace, would otherwise be read and dropped under no cap but the header deadline,
        // whose plain close could destroy the answer; and after `Expect: 100-continue` it is
        // unknown whether that body comes at all (RFC 9110 §10.1.1). It is left unread, with
        // a lingering close.
        if (100...199).contains(head.status.code) == false {
            switch inbound {
            case .collecting, .streaming: closeAfterResponse = true
            case .none, .discarding: break
            }
        }
        // Graceful shutdown closes after the last request read: its response says so. The
        // start of a head behind it will not be completed (nothing more is read).
        if quiescing, held.isEmpty, codec?.hasWholeHead != true { closeAfterResponse = true }
        guard closeAfterResponse, head.headerFields.value(.connection) == nil else { return head }
        var head = head
        head.headerFields[.connection] = "close"
        return head
    }

    /// The codec frames the response in progress by the connection's end (HTTP/1.0 with no
    /// length): nothing pipelined behind it is started.
    func closesAfterResponse() {
        closeAfterResponse = true
    }

    /// Writes a response's last part. A close that follows (end of input, graceful shutdown,
    /// a refusal) must not cut it off: that close waits for ``afterWrites(context:)``.
    private func writeEnd(_ part: HTTPResponsePart, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        send(part, promise: promise, context: context)
        flushSoon(context: context)
    }

    /// Completes once everything written so far has been written to the socket: an empty body
    /// part writes no bytes, and its promise completes in order after the writes before it
    /// (`HTTPTypesCodec`, `TLSHandler`). Made only where a close follows: a promise kept for
    /// every response, in case one followed, was 1–2 % of a `tools/call`'s CPU (paired A/B).
    private func afterWrites(context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.body(ByteBuffer())), promise: written)
        return written.futureResult
    }

    /// Flushes with the loop's other responses of this tick (``ResponseFlusher``).
    private func flushSoon(context: ChannelHandlerContext) {
        guard !flushQueued else { return }
        flushQueued = true
        flusher?.flushSoon(self)
    }

    /// The ``ResponseFlusher``'s turn for this connection.
    func flushNow() {
        guard flushQueued else { return }
        flushQueued = false
        context?.flush()
    }

    /// Closes once what is written has gone out. The last response gets as long to go out as
    /// it would on a kept-alive connection, the idle timeout from its end (counted as `idle`),
    /// not the linger's few seconds, which cut off a large answer to a client that asked to
    /// close (`Connection: close`, HTTP/1.0, a half-close) on a slow link. What the client
    /// still sends is dropped unparsed and starts no header deadline.
    private func closeWhenWritten(context: ChannelHandlerContext) {
        // Once: a second call (the client's FIN, a quiesce, while the answer is still going
        // out) would push the bound back; on a closed channel there is nothing to wait for.
        guard !closeArmed, context.channel.isActive else { return }
        closeArmed = true
        let channel = context.channel
        closing = true
        codec?.dropInput()
        // Under a linger's writes (the client's end of input came meanwhile) their bound
        // stands: re-armed, it would start over.
        if !lingerStarted {
            if let deadlines, let idleTimeout = deadlines.idleTimeout {
                deadlines.closing(within: idleTimeout, context)
            } else {
                armLinger(channel: channel, loop: context.eventLoop)
            }
        }
        afterWrites(context: context).whenComplete { _ in channel.close(promise: nil) }
    }

    /// The request is not answered: what was read after it is dropped, and the connection
    /// closes after its writes (an answer before this one still goes out whole).
    fileprivate func abandon(request: Int) {
        guard request == self.request, responding, let context else { return }
        responding = false
        deadlines?.serving(false)
        held.removeAll()
        closeWhenWritten(context: context)
    }

    /// The request's task ended: a response it left unfinished cannot be completed, so the
    /// connection closes (the client sees a truncated response, never a mixed one).
    fileprivate func taskEnded(request: Int) {
        guard request == self.request, responding, let context else { return }
        responding = false
        context.close(promise: nil)
    }

    private func responseEnded(context: ChannelHandlerContext) {
        responding = false
        deadlines?.serving(false)
        var bodyUnread = false
        switch inbound {
        case .streaming:
            // Answered before reading all of its body: the rest is dropped as it arrives.
            endBody(with: ResponseEndedBeforeBody())
            inbound = .discarding
            bodyUnread = true
        case .discarding:
            bodyUnread = true
        case .none, .collecting:
            break
        }
        if closeAfterResponse {
            held.removeAll()
            closing = true
            // A 413 answered from Content-Length leaves the client sending its body: closing
            // with that unread would reset the connection and could destroy the answer.
            if bodyUnread {
                lingerThenClose(context: context)
            } else if quiescing, !inputClosed {
                // Reading stopped at the shutdown, and a client that pipelines may have
                // requests on their way: closed with those unread (or arriving after the
                // close), the kernel would reset the connection and could destroy this
                // answer. It goes out under the idle bound, then the connection lingers until
                // the client closes (it was told to) or the linger's bound.
                lingerThenClose(context: context, writesWithinIdleTimeout: true)
            } else {
                closeWhenWritten(context: context)
            }
            return
        }
        // A pipelined request waits until the client has taken most of the response before
        // it (NIO's pending writes under their low watermark): answered at once, a 1 MiB
        // result behind another to a client that is slow to read met TLSHandler's cap on
        // unsent ciphertext, and the connection was closed. The wait is bounded by the idle
        // timeout: the client is not reading. The response is flushed first: until then the
        // TLS handler holds it, and the channel, not yet given its bytes, reads as writable.
        // (The flush queued for the tick used to run before the next request's task only
        // because that task's first job was queued behind it.)
        //
        // The same holds for a request that comes later, and reading stops until then: a
        // client that sends requests one at a time and never reads the answers queued them
        // without bound on a plaintext connection (the ops port), where no TLS handler stops
        // reading at its cap. The keep-alive idle deadline goes on meanwhile.
        let waits = laterRequestWaits
        if waits { context.flush() }
        if !context.channel.isWritable {
            awaitingDrain = true
            deadlines?.waitingForDrain = true
            if waits {
                deadlines?.awaitDrain(context)
            } else {
                // What comes meanwhile is parsed once the client has taken this answer, and
                // the codec chooses its deadline then, as for a pipelined request.
                codec?.chooseDeadlinesWhenParsed()
            }
            return
        }
        answerHeld(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if awaitingDrain, context.channel.isWritable {
            awaitingDrain = false
            deadlines?.waitingForDrain = false
            // A request held is answered under no deadline. Otherwise the codec chooses the
            // deadline when it next parses (``HTTPTypesCodec/chooseDeadlinesWhenParsed()``):
            // the header one for part of a head, else the idle one, from now.
            if !held.isEmpty { deadlines?.drained() }
            answerHeld(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    /// Answers the requests held while a response was in progress, in order, until one is
    /// in progress again; then reads on.
    private func answerHeld(context: ChannelHandlerContext) {
        // Parts go on to the request being read once its task has started (a body past
        // `collectLimit` starts it before the body's end), and start the next request once
        // no response is in progress; a refusal waits for that too.
        taking: while let item = held.first {
            switch item {
            case .part(let part):
                if responding, case .none = inbound { break taking }
                held.removeFirst()
                process(part, context: context)
            case .refused(let refusal):
                if responding { break taking }
                held.removeFirst()
                writeRefusal(refusal, context: context)
                return
            }
        }
        takeUnparsed(context: context)
        if refused { return }
        closeIfDone(context: context, afterResponse: true)
        resumeReading(context: context)
    }

    /// Has the codec parse what waits in it, now that the next request can be taken.
    private func takeUnparsed(context: ChannelHandlerContext) {
        codec?.parseBuffered()
        // The body did not all come with the head: streamed, as at the end of a read.
        if case .collecting = inbound { startStreaming(context: context) }
    }

    /// Closes once nothing is left to answer, after end of input or at graceful shutdown.
    /// `afterResponse`: a response (begun before the shutdown, so it could not say close)
    /// has just ended, and at graceful shutdown the connection lingers after it, as in
    /// ``responseEnded(context:)``; an idle connection closes at once. A connection already
    /// lingering closes only at the client's end of input (or the linger's bound): a plain
    /// close here ended the linger early.
    private func closeIfDone(context: ChannelHandlerContext, afterResponse: Bool = false) {
        if lingerStarted, !inputClosed { return }
        // At graceful shutdown, requests already read are answered, parsed or not.
        if quiescing, !responding, held.isEmpty, codec?.hasUnparsedInput == true {
            takeUnparsed(context: context)
            if refused { return }
        }
        guard inputClosed || quiescing, !responding, !awaitingDrain, held.isEmpty else { return }
        switch inbound {
        case .none, .discarding:
            if afterResponse, quiescing, !inputClosed {
                closing = true
                lingerThenClose(context: context, writesWithinIdleTimeout: true)
            } else {
                closeWhenWritten(context: context)
            }
        case .collecting, .streaming:
            break  // a request is still being read: it is answered first
        }
    }

    private func writeRefusal(_ refusal: RequestRefusal, context: ChannelHandlerContext) {
        held.removeAll()
        refused = true
        onRefusal(refusal.head.status)
        // RFC 9110 §6.6.1: an origin server with a clock MUST send Date on every 4xx, these too.
        var head = refusal.head
        head.headerFields.append(HTTPField(name: .date, value: HTTPDate.shared.now()))
        send(.head(head), promise: nil, context: context)
        if let body = refusal.body { send(.body(body), promise: nil, context: context) }
        writeEnd(.end(nil), promise: nil, context: context)
        lingerThenClose(context: context)
    }

    /// After a refusal the client may still be sending (an oversized head arrives whole, a
    /// pipelined request behind a malformed one). Closing with its bytes unread makes the
    /// kernel answer with a reset, which can destroy the refusal before the client has read
    /// it. So, as nginx's lingering close: once the refusal is written our side ends
    /// (close_notify and FIN), what still comes is read and dropped (the codec drops it) until
    /// the client closes its side, for at most `linger.timeout`; then the connection closes.
    /// The wait for the refusal to be sent has the same bound: a client that stopped reading
    /// would otherwise hold the connection with no deadline at all (the request deadlines
    /// ended with the refusal). Where a channel cannot half-close, it closes at once.
    private func lingerThenClose(context: ChannelHandlerContext, writesWithinIdleTimeout: Bool = false) {
        // Once; and not for a connection already closing once written (its bound stands).
        guard !lingerStarted, !closeArmed, context.channel.isActive else { return }
        lingerStarted = true
        let channel = context.channel
        let loop = context.eventLoop
        // What still comes is dropped unparsed, under the linger's bound alone: parsed, the
        // heads a client streams meanwhile piled up, and the first byte of one started a
        // header deadline that could end the linger early (counted as `header`). An end of
        // input held behind them has come already: there is nothing to linger for after the
        // writes (waiting for it, the close took the whole linger bound).
        if codec?.dropInput() == true { inputClosed = true }
        let dispatcher = NIOLoopBound(self, eventLoop: loop)
        if writesWithinIdleTimeout, let deadlines, let idleTimeout = deadlines.idleTimeout {
            // A full answer (not a refusal) may be large: as long to go out as on a kept-alive
            // connection, as in ``closeWhenWritten(context:)``; the linger starts at its end.
            deadlines.closing(within: idleTimeout, context)
        } else {
            deadlines?.closing(within: nil, context)
            armLinger(channel: channel, loop: loop)
        }
        afterWrites(context: context).whenComplete { written in
            guard case .success = written, channel.isActive else {
                channel.close(promise: nil)
                return
            }
            // The half-close can wait too (under TLS, its close_notify for a client that
            // stopped reading): still under the writes' bound, the idle one for a full answer.
            let halfClosed = loop.makePromise(of: Void.self)
            channel.close(mode: .output, promise: halfClosed)
            halfClosed.futureResult.whenComplete { result in
                guard case .success = result, channel.isActive else {
                    channel.close(promise: nil)
                    return
                }
                if writesWithinIdleTimeout { dispatcher.value.deadlines?.cancel() }
                if dispatcher.value.inputClosed {
                    channel.close(promise: nil)
                    return
                }
                dispatcher.value.lingering = true
                dispatcher.value.armLinger(channel: channel, loop: loop)
                channel.read()
            }
        }
    }

    /// (Re)starts the linger's bound; ``channelInactive(context:)`` cancels it.
    private func armLinger(channel: any Channel, loop: any EventLoop) {
        lingerDeadline?.cancel()
        let linger = self.linger
        lingerDeadline = loop.scheduleTask(in: linger.timeout) {
            linger.onTimeout()
            channel.close(promise: nil)
        }
    }

    fileprivate enum ResponseParts {
        case head(HTTPResponse)
        case body(ByteBuffer)
        case complete(HTTPResponse, ByteBuffer?)
        case end(HTTPFields?)
    }

    struct ResponseEndedBeforeBody: Error {}

    /// `Expect: 100-continue` (RFC 9110 §10.1.1; the only expectation defined).
    /// A plain loop over the fields: it runs for every request head.
    static func expectsContinue(_ fields: HTTPFields) -> Bool {
        for index in fields.indices where fields.hasName(.expect, at: index) {
            if fields[index].value.utf8.equalsIgnoringASCIICase("100-continue") { return true }
        }
        return false
    }

    /// RFC 9112 §9.6: `close` among the Connection options (a list, possibly over several
    /// field lines) asks the server to close after its response.
    static func asksToClose(_ fields: HTTPFields) -> Bool {
        for index in fields.indices where fields.hasName(.connection, at: index) {
            for option in fields[index].value.split(separator: ",") {
                let words = option.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if words.count == 1, words[0].utf8.equalsIgnoringASCIICase("close") { return true }
            }
        }
        return false
    }

    /// Tells the dispatcher when a streamed body's reader wants more, or has gone.
    struct BodyDelegate: NIOAsyncSequenceProducerDelegate {
        let dispatcher: NIOLoopBound<RequestDispatcher>
        let request: Int

        func produceMore() {
            let (dispatcher, request) = (self.dispatcher, self.request)
            dispatcher.eventLoop.execute { dispatcher.value.bodyWantsMore(request: request) }
        }

        func didTerminate() {
            let (dispatcher, request) = (self.dispatcher, self.request)
            dispatcher.eventLoop.execute { dispatcher.value.bodyAbandoned(request: request) }
        }
    }
}

/// A request refused below the dispatcher, before it became a request (``RequestHeadGuard``:
/// Host, CONNECT; ``HTTPTypesCodec``: framing, headers over the caps). The refusing
/// handler sends it up as a user inbound event in the request's place and drops the rest of
/// the input; the dispatcher answers it in that request's turn, then closes the connection.
/// Written at once from below, it could land before or inside the response to a pipelined
/// request still being written, and its close cut that response off.
///
/// If it concerns the request being read (headers over the caps in its trailers), that
/// request's body fails with it and its task answers instead.
struct RequestRefusal: Error {
    let head: HTTPResponse
    let body: ByteBuffer?
    /// Why, when the body says it: a route that was reading the request's body when it came
    /// answers with it too.
    let message: String?

    /// No body (the 400 for a request the parser could not read, the 431).
    init(_ status: HTTPResponse.Status) {
        head = HTTPResponse(status: status, headerFields: [.connection: "close", .contentLength: "0"])
        body = nil
        message = nil
    }

    /// A JSON-RPC Invalid Request error saying why, so an MCP client can show it.
    init(_ status: HTTPResponse.Status, message: String, fields extra: HTTPFields = [:]) {
        self.message = message
        let text = JSONRPCError(id: nil, code: .invalidRequest, message: message).response.serialized()
        var fields: HTTPFields = [.connection: "close", .contentType: "application/json", .contentLength: String(text.count)]
        fields.append(contentsOf: extra)
        head = HTTPResponse(status: status, headerFields: fields)
        body = ByteBuffer(bytes: text)
    }
}

/// A request task's way to its connection: every call hops to the event loop and reaches
/// the dispatcher, which ignores calls for a request that is no longer current.
struct ResponseSink: Sendable {
    fileprivate let dispatcher: NIOLoopBound<RequestDispatcher>
    fileprivate let channel: any Channel
    fileprivate let request: Int
    /// The request's whole body, when it came with its head: reading it cannot stall, so it
    /// needs no deadline (scheduling one from the task cost 1.5 % of a request's CPU), and
    /// the routes take it as it is, without going through the body's async sequence.
    let completeBody: ByteBuffer?
    var bodyComplete: Bool { completeBody != nil }

    var eventLoop: any EventLoop { dispatcher.eventLoop }

    /// Runs `body` with the dispatcher on its event loop; on the loop itself (tests: a task
    /// never runs there) directly.
    private func onLoop(_ body: @escaping @Sendable (RequestDispatcher, Int) -> Void) {
        let (dispatcher, request) = (self.dispatcher, self.request)
        if dispatcher.eventLoop.inEventLoop {
            body(dispatcher.value, request)
        } else {
            dispatcher.eventLoop.execute { body(dispatcher.value, request) }
        }
    }

    /// As ``onLoop(_:)``, without a closure on the loop itself (where a request's task runs):
    /// made before the test, it was an allocation for every response.
    private func send(_ parts: RequestDispatcher.ResponseParts, promise: EventLoopPromise<Void>?) {
        let (dispatcher, request) = (self.dispatcher, self.request)
        if dispatcher.eventLoop.inEventLoop {
            dispatcher.value.write(parts, request: request, promise: promise)
        } else {
            dispatcher.eventLoop.execute { dispatcher.value.write(parts, request: request, promise: promise) }
        }
    }

    /// A whole response in one write (head, body, end); nothing to wait for.
    func writeComplete(_ head: HTTPResponse, body: ByteBuffer?) {
        send(.complete(head, body), promise: nil)
    }

    /// The head of a streamed response, sent at once (an SSE client waits for it).
    func writeHead(_ head: HTTPResponse) async throws {
        let promise = eventLoop.makePromise(of: Void.self)
        send(.head(head), promise: promise)
        try await promise.futureResult.get()
    }

    /// A part of a streamed body. While the connection takes what is written (and the caller
    /// does not ask to wait) it returns at once; otherwise (the client reads slower than we
    /// write: NIO's pending writes are over their high watermark) it returns once this part,
    /// and so every part before it, is written to the socket. Returns whether it waited.
    @discardableResult
    func writeBody(_ buffer: ByteBuffer, wait: Bool = false) async throws -> Bool {
        guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
        if !wait, channel.isWritable {
            send(.body(buffer), promise: nil)
            return false
        }
        let promise = eventLoop.makePromise(of: Void.self)
        send(.body(buffer), promise: promise)
        try await promise.futureResult.get()
        return true
    }

    func writeEnd(_ trailers: HTTPFields?) {
        send(.end(trailers), promise: nil)
    }

    /// The request gets no answer (its client went: ``HTTPReplies/clientGone()``): the
    /// connection closes once what it has to send is out.
    func abandon() {
        onLoop { $0.abandon(request: $1) }
    }

    /// The task is done with the request (closes the connection if the response is unfinished).
    func taskEnded() {
        onLoop { $0.taskEnded(request: $1) }
    }
}
