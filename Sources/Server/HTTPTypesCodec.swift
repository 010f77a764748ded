import DequeModule
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// The connection's HTTP/1.1 layer, between its bytes and HTTPTypes (what Hummingbird and
/// ``RequestDispatcher`` speak), both ways: requests are read by ``HTTPRequestParser``,
/// each head is checked (``RequestHeadGuard``: Host, CONNECT; then its framing, against
/// request smuggling) and passed up as an `HTTPRequest`, and each response is encoded here
/// straight to bytes. It also moves the connection's ``RequestDeadlines`` along: the header
/// deadline ends at a head, the idle one starts when the last request read is answered.
/// Bytes that are not a request are refused with the status that says why (400, 414, 431
/// per RFC 6585 §5, 505), and so is a request cut off by the end of input. A refused
/// request goes up as a ``RequestRefusal`` event, answered in its turn, and the rest of the
/// input is dropped.
///
/// One handler for all of this: each handler is a hop for every part of every request and
/// response (a whole response is three parts), and they all look at the same parts.
///
/// Why not NIOHTTP1's decoder: see ``HTTPRequestParser``. Why not `HTTP1ToHTTPServerCodec`
/// on top of it: it parses every request target with Foundation's
/// `URLComponents` and lowercases every field name to find `Host`, 2.5 % of a request's CPU
/// together, where nearly every target is already the path (origin-form, RFC 9112 §3.2.1);
/// and a head it cannot convert became an error that closed the connection at once, cutting
/// off a pipelined response still being written. Here it is a ``RequestRefusal`` (400),
/// answered in its turn.
///
/// Why not NIOHTTP1's response encoder: behind it, each response was converted to
/// `HTTPResponseHead` (a copy of every field), framed by removing and adding fields of that
/// copy, and written as three buffers (head, body, end) that the TLS handler copied into
/// one record: 5.5 % of a request's CPU. A response whose parts come without promises (a
/// whole response: head, body, then the end, which carries one) is encoded into one buffer,
/// sized from its `Content-Length`, and sent with its end.
final class HTTPTypesCodec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = ByteBuffer

    private let scheme: String
    private var parser: HTTPRequestParser
    /// Input the parser has not used yet: part of a head, a chunk line or a line end.
    private var input: ByteBuffer?
    /// Nil where the codec is tested alone.
    private let deadlines: RequestDeadlines?
    /// A request was refused: the rest of the input is dropped, and the connection closes
    /// after the refusal.
    private var refusing = false
    /// This handler's context while it is in a pipeline (``encode(_:promise:)``).
    private var ownContext: ChannelHandlerContext?
    /// The dispatcher above and its context, once attached (``attach(_:context:)``).
    private var dispatcher: (handler: RequestDispatcher, context: ChannelHandlerContext)?
    /// ``parseInput(context:)`` is running.
    private var parsing = false
    /// A response ended with bytes still unparsed: the deadline that follows is chosen once
    /// they are parsed (``answeredAll(context:)``).
    private var deadlinesPending = false
    /// The end of input came while requests still waited here (``hasUnparsedInput``): it
    /// is passed up once they have been.
    private var inputClosedPending = false

    /// What the request a response answers allows in its body (RFC 9112 §6.3).
    struct Answering {
        enum Kind {
            case other
            /// A response to HEAD has the framing fields of the GET response and no body (RFC 9110 §9.3.2).
            case head
            /// A 2xx response to CONNECT would start a tunnel: no body and no framing fields (RFC 9110 §9.3.6).
            case connect
        }

        var kind: Kind
        /// The request said HTTP/1.0, which has no transfer codings (RFC 9112 §6.1): a body of
        /// unknown length ends with the connection; a persistent connection is said so.
        var http10 = false

        /// Computed: a stored static is a lazy global, checked on every response.
        static var other: Answering { Answering(kind: .other) }
    }

    /// The requests read and not yet answered, in order (one per head read: a refused head
    /// is answered too). Non-empty when a response ends: with pipelining the next request is
    /// already read, and the connection is not idle.
    private var unanswered = Deque<Answering>()
    /// The response being written has a chunked body.
    private var chunked = false
    /// The response being written is delimited by closing the connection (HTTP/1.0, no length).
    private var closeAfterEnd = false
    /// The response being written answers HEAD (or is a 2xx to CONNECT): body writes fail.
    private var bodyForbidden = false
    /// Bytes encoded and not yet passed down: parts written without a promise wait for the
    /// next part with one, or a flush, and go down with it as one buffer.
    private var pending: ByteBuffer?

    /// Bodies up to this size are copied next to their head or chunk framing (one record
    /// through TLS); larger ones go down as they are.
    static let coalesceLimit = 16 * 1024

    /// The connection's share of `limits.max_unsent_bytes` (nil: not counted, the ops port).
    private let unsent: UnsentAccount?

    /// The most input kept unparsed while a request is served: two reads of 64 KiB (reads
    /// are held meanwhile, one per readiness event) and a head.
    private let heldInputLimit: Int

    init(secure: Bool, limits: HTTPRequestParser.Limits = .init(), deadlines: RequestDeadlines? = nil, unsent: UnsentAccount? = nil) {
        scheme = secure ? "https" : "http"
        parser = HTTPRequestParser(limits: limits)
        heldInputLimit = 2 * PublicChildChannel.maxReadBytes + limits.maxHeaderBytes
        self.deadlines = deadlines
        self.unsent = unsent
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refusing { return }
        var bytes = unwrapInboundIn(data)
        if input != nil {
            input!.writeBuffer(&bytes)
        } else {
            input = bytes
        }
        // Reads are held while a request is served, but at the peer's FIN NIO reads to the
        // end whatever was asked: a client that pipelines, leaves its answer unread and
        // half-closes had the kernel's whole buffer (megabytes) kept here unparsed. Past the
        // bound the requests kept are refused whole, after the answers already due.
        if let kept = input?.readableBytes, kept > heldInputLimit, dispatcher?.handler.holdsParts ?? false {
            input = nil
            refuse(RequestRefusal(.badRequest, message: "Bad Request: more than \(heldInputLimit) bytes of requests sent ahead of their answers"),
                   context: context)
            return
        }
        parseInput(context: context)
    }

    /// Body parts smaller than this are merged (see ``parseInput(context:)``).
    static let mergedPartBytes = 4096

    /// Parses the input into request parts while the dispatcher takes them. Pipelined
    /// requests behind one in progress stay here as bytes: parsed ahead, a read of 26-byte
    /// `GET`s became thousands of held requests of a kilobyte each (a 40-fold growth, kept
    /// for as long as the client did not read). The dispatcher holds at most one part, holds
    /// reads while bytes wait here (``hasUnparsedInput``), and calls ``parseBuffered()``
    /// when it can take the next request.
    private func parseInput(context: ChannelHandlerContext) {
        // A part handed up can end a response and so ask for the next request: the loop
        // below, still running, takes it.
        guard !parsing else { return }
        parsing = true
        // Small body parts of one pass go up merged: a body sent in 1-byte chunks was one part
        // per byte through the dispatcher and the body's async sequence, 10,000 of them per
        // 64 KiB read. Parts of `mergedPartBytes` or more go up as they are (no copy), and a
        // merged part goes up once it reaches that size, so a read makes at most one part
        // per 4 KiB of body and every byte is copied at most once.
        var body: ByteBuffer?
        do {
            // `input != nil`: safe should a handler above ever make a read re-enter here.
            while !refusing, input != nil, !(dispatcher?.handler.holdsParts ?? false), let part = try parser.next(from: &input!) {
                switch part {
                case .head(let head): receive(head, context: context)
                case .body(var more):
                    if more.readableBytes >= Self.mergedPartBytes {
                        if let part = body.take() { deliver(.body(part), context: context) }
                        deliver(.body(more), context: context)
                    } else if var merged = body.take() {
                        if merged.capacity < 2 * Self.mergedPartBytes {
                            // The first merge: one buffer that every part until the next
                            // delivery fits in (each is under the size, and it goes at the size).
                            var fresh = context.channel.allocator.buffer(capacity: 2 * Self.mergedPartBytes)
                            fresh.writeBuffer(&merged)
                            merged = fresh
                        }
                        merged.writeBuffer(&more)
                        if merged.readableBytes >= Self.mergedPartBytes {
                            deliver(.body(merged), context: context)
                        } else {
                            body = merged
                        }
                    } else {
                        body = more
                    }
                case .end(let trailers):
                    if let part = body.take() { deliver(.body(part), context: context) }
                    deliver(.end(trailers), context: context)
                }
            }
            if let part = body.take() { deliver(.body(part), context: context) }
        } catch {
            // What came whole before the malformed bytes is passed up first, as it was read.
            if let part = body.take() { deliver(.body(part), context: context) }
            refuse(error, context: context)
        }
        parsing = false
        if refusing || (input?.readableBytes ?? 0) == 0 {
            input = nil
        } else if input!.readerIndex > 4096 {
            // What is kept is a pipelined request, or part of a head or chunk line within
            // the parser's caps.
            input!.discardReadBytes()
        }
        let holding = dispatcher?.handler.holdsParts ?? false
        if deadlinesPending, !unanswered.isEmpty || !holding {
            // A request was read (its head ends the pending choice), or all that was kept is
            // parsed: what is left, if anything, is part of a head.
            deadlinesPending = false
            if unanswered.isEmpty, !refusing { answeredAll(context: context) }
        }
        if inputClosedPending, !hasUnparsedInput || !holding {
            inputClosedPending = false
            inputClosed(context: context)
        }
    }

    /// Every request read is answered: the idle deadline runs, or the header one if part of
    /// the next head has come (it runs from now, not the longer idle one).
    private func answeredAll(context: ChannelHandlerContext, flushPending: Bool = false) {
        deadlines?.responseEnded(context, flushPending: flushPending)
        if parser.hasPartialHead(buffered: input?.readableBytes ?? 0) { deadlines?.startHead(context) }
    }

    /// The connection closes after the answers already given: what is buffered and what still
    /// comes is dropped unparsed (a lingering close reads on only so that the kernel does not
    /// answer it with a reset). Returns whether the client's end of input had come, held
    /// behind the bytes dropped: it will not be passed up now, and NIO does not report it twice.
    @discardableResult
    func dropInput() -> Bool {
        refusing = true
        input = nil
        defer { inputClosedPending = false }
        return inputClosedPending
    }

    /// Bytes wait here that the dispatcher has not taken yet.
    var hasUnparsedInput: Bool { (input?.readableBytes ?? 0) > 0 && !refusing }

    /// What waits here holds a whole request head (not just the start of one).
    var hasWholeHead: Bool {
        guard let input, !refusing else { return false }
        return parser.hasWholeHead(in: input)
    }

    /// The deadline after the answer just ended is chosen when the dispatcher next has the
    /// codec parse (``parseBuffered()``): it waits for the client to take that answer, and
    /// what comes meanwhile (a request, part of one, nothing) decides it then.
    func chooseDeadlinesWhenParsed() {
        deadlinesPending = true
    }

    /// The dispatcher can take the next request: parse what waits.
    func parseBuffered() {
        guard let ownContext else { return }
        parseInput(context: ownContext)
    }

    private func receive(_ head: HTTPRequestParser.Head, context: ChannelHandlerContext) {
        unanswered.append(Answering(kind: head.method == .head ? .head : head.method == .connect ? .connect : .other,
                                    http10: head.minorVersion == 0))
        if let refusal = RequestHeadGuard.refusal(head) {
            refuse(refusal, context: context)
            return
        }
        deadlines?.headReceived()
        if case .invalid(let status, let problem) = head.framing {
            refuse(RequestRefusal(status, message: "\(status.reasonPhrase): \(problem)"), context: context)
            return
        }
        var fields = head.fields
        // RFC 9112 §9.3: an HTTP/1.0 connection persists only if the client asks for it with
        // the keep-alive option; `HTTPRequest` has no version, so the close is said as a field.
        if head.minorVersion == 0, !Self.asksToKeepAlive(fields) { fields.append(HTTPField(name: .connection, value: "close")) }
        // RFC 9110 §10.1.1: a server MUST ignore a 100-continue expectation in an HTTP/1.0
        // request (1xx responses do not exist there).
        if head.minorVersion == 0, fields.contains(where: { $0.name == .expect }) { fields[.expect] = nil }
        // RFC 9112 §3.2.2: with an absolute-form target the server MUST ignore Host and use
        // the target's authority (Host is still required, and checked). User info there is an
        // error (RFC 9110 §4.2.4): it has no meaning to a server, only to phishing.
        var authority = head.authority
        if let targetAuthority = Self.authority(of: head.target) {
            guard !targetAuthority.contains("@") else {
                refuse(RequestRefusal(.badRequest, message: "Bad Request: user info in the request target"), context: context)
                return
            }
            // It takes Host's place, so it meets Host's grammar (RFC 9110 §4.2.1: an empty
            // host is invalid; §7.2 `uri-host [ ":" port ]`).
            guard RequestHeadGuard.isValidHost(targetAuthority) else {
                refuse(RequestRefusal(.badRequest, message: "Bad Request: invalid authority in the request target"), context: context)
                return
            }
            authority = targetAuthority
        }
        let request = HTTPRequest(method: head.method, scheme: scheme, authority: authority, path: Self.path(of: head.target), headerFields: fields)
        deliver(.head(request), context: context)
    }

    /// Hands a request part up: to ``RequestDispatcher`` directly once it has attached itself
    /// (it sits right above), otherwise through the pipeline.
    private func deliver(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        if let dispatcher {
            dispatcher.handler.receive(part, context: dispatcher.context)
        } else {
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    /// ``RequestDispatcher``, added right above, is handed request parts directly: wrapping
    /// each in `NIOAny` and casting it back took ≈ 0.5 % of a request's CPU. Detached when
    /// either handler leaves the pipeline (the pair refer to each other until then).
    func attach(_ handler: RequestDispatcher, context: ChannelHandlerContext) {
        dispatcher = (handler, context)
    }

    func detach() {
        dispatcher = nil
    }

    /// Bytes that are not a request: refused with the status that says why (400, 414, 431,
    /// 505); a request cut off by the end of input is a 400 as well.
    private func refuse(_ failure: HTTPRequestParser.Failure, context: ChannelHandlerContext) {
        if case .fieldsTooLarge = failure {
            refuse(RequestRefusal(.requestHeaderFieldsTooLarge), context: context)
        } else {
            refuse(RequestRefusal(failure.status, message: failure.reason), context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // Requests still wait here: the end of input comes after them.
            if hasUnparsedInput, dispatcher?.handler.holdsParts ?? false {
                inputClosedPending = true
            } else {
                inputClosed(context: context)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func inputClosed(context: ChannelHandlerContext) {
        if !refusing, parser.isInMessage(buffered: input?.readableBytes ?? 0) {
            refuse(.malformed("the request ended before its end"), context: context)
        }
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    /// The dispatcher writes the refusal once the requests before it are answered; no
    /// deadline runs meanwhile (the connection closes after it).
    private func refuse(_ refusal: RequestRefusal, context: ChannelHandlerContext) {
        refusing = true
        deadlines?.cancel()
        context.fireUserInboundEventTriggered(refusal)
    }

    /// The header deadline fell with part of a request head read: answered 408 Request
    /// Timeout with `Connection: close` (RFC 9110 §15.5.9), and the caller closes the
    /// connection at once, with no lingering close: a client that trickled its head for the
    /// whole deadline gets no more of the server's time, and a reset its further bytes cause
    /// may cost it the answer. False (closed in silence) when nothing of a head was read: a
    /// client that asked nothing is told nothing.
    func answerHeadTimeout() -> Bool {
        guard let context = ownContext, !refusing, let input,
              parser.hasPartialHead(buffered: input.readableBytes) else { return false }
        refusing = true
        self.input = nil
        var answer = context.channel.allocator.buffer(capacity: 128)
        answer.writeStaticString("HTTP/1.1 408 Request Timeout\r\n")
        Self.write([.connection: "close", .contentLength: "0", .date: HTTPDate.shared.now()], to: &answer)
        context.writeAndFlush(wrapOutboundOut(answer), promise: nil)
        return true
    }

    // MARK: responses

    func handlerAdded(context: ChannelHandlerContext) {
        ownContext = context
        deadlines?.codec = self
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ownContext = nil
        dispatcher = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        encode(unwrapOutboundIn(data), context: context, promise: promise)
    }

    /// Encodes a part written by ``RequestDispatcher``, the handler right above, which calls
    /// this directly rather than through the pipeline: wrapping each part in `NIOAny` and
    /// casting it back took ≈ 1 % of a request's CPU. False when the codec is not in a pipeline.
    func encode(_ part: HTTPResponsePart, promise: EventLoopPromise<Void>?) -> Bool {
        guard let ownContext else { return false }
        encode(part, context: ownContext, promise: promise)
        return true
    }

    private func encode(_ part: HTTPResponsePart, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        switch part {
        case .head(let response):
            writeHead(response, context: context)
        case .body(let body):
            // An empty part writes nothing, and its promise completes once what was written
            // before it is written: the dispatcher waits on one before it closes.
            guard !bodyForbidden || body.readableBytes == 0 else {
                promise?.fail(NIOHTTPResponseEncoderError.responseBodyNotAllowed)
                return
            }
            writeBody(body, context: context)
        case .end(let trailers):
            // Not after a refusal: the connection closes once it, the last answer, is written.
            if unanswered.isEmpty, !refusing {
                if hasUnparsedInput {
                    // Bytes wait unparsed (a pipelined request, part of one, a stray CRLF): what
                    // they are is known once the dispatcher has the codec parse them
                    // (``parseInput(context:)``), and the deadline is chosen then. Till then
                    // the connection is in its request, not idle.
                    deadlinesPending = true
                } else {
                    answeredAll(context: context, flushPending: true)
                }
            }
            if chunked {
                var last = context.channel.allocator.buffer(capacity: 5)
                last.writeStaticString("0\r\n")
                if let trailers {
                    Self.write(trailers, to: &last)
                } else {
                    last.writeStaticString("\r\n")
                }
                append(last, context: context)
            }
            bodyForbidden = false
            if closeAfterEnd {
                closeAfterEnd = false
                let written = promise ?? context.eventLoop.makePromise(of: Void.self)
                let channel = context.channel
                written.futureResult.whenComplete { _ in channel.close(promise: nil) }
                send(context: context, promise: written)
                return
            }
        }
        if let promise { send(context: context, promise: promise) }
    }

    func flush(context: ChannelHandlerContext) {
        send(context: context, promise: nil)
        context.flush()
        deadlines?.flushed(context)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        send(context: context, promise: nil)
        context.close(mode: mode, promise: promise)
    }

    /// The status line and fields, framed as RFC 9112 §6 asks: no framing fields where there
    /// is no body (1xx, 204, 304, a 2xx to CONNECT); otherwise the `Content-Length` given, or
    /// chunked transfer coding.
    private func writeHead(_ response: HTTPResponse, context: ChannelHandlerContext) {
        let code = response.status.code
        // A non-final 1xx comes before the response to the same request.
        let answering = (100..<200).contains(code) && code != 101 ? .other : (unanswered.popFirst() ?? .other)
        // One pass finds the framing fields and sizes the buffer: "HTTP/1.1 200 OK\r\n",
        // each "name: value\r\n", "\r\n"; then room for a small body.
        // `fieldsSize` is the field lines' share, handed to `write` so it need not walk them
        // again; a field removed below leaves it an overestimate, which is harmless.
        var fieldsSize = 2
        var length: Int?
        var chunkedField = false
        // By index, not `for in`, which copies every field (``HTTPFields/hasName(_:at:)``).
        let headerFields = response.headerFields
        for index in headerFields.indices {
            fieldsSize += headerFields[index].name.rawName.utf8.count + headerFields[index].value.utf8.count + 4
            if headerFields.hasName(.contentLength, at: index) {
                length = Int(headerFields[index].value) ?? 0
            } else if headerFields.hasName(.transferEncoding, at: index) {
                chunkedField = true
            }
        }
        let tunnel = answering.kind == .connect && (200..<300).contains(code)
        let noBody = (100..<200).contains(code) || code == 204 || code == 304 || tunnel
        var fields = response.headerFields
        if noBody {
            if length != nil || chunkedField {
                fields[.contentLength] = nil
                fields[.transferEncoding] = nil
            }
        } else if length != nil {
            if chunkedField { fields[.transferEncoding] = nil }
        } else if answering.http10 {
            // No chunked coding for an HTTP/1.0 client: the body ends when the connection does.
            if chunkedField { fields[.transferEncoding] = nil }
            fields[.connection] = "close"
            closeAfterEnd = true
            // The dispatcher must know too, or it would start a request pipelined behind this
            // one once it ends, and that answer would be lost with the connection.
            dispatcher?.handler.closesAfterResponse()
            fieldsSize += 19
        } else {
            fields[.transferEncoding] = "chunked"
            fieldsSize += 28
        }
        // An HTTP/1.0 client keeps the connection only when the response says so (RFC 9112 §9.3).
        if answering.http10, fields[.connection] == nil {
            fields[.connection] = "keep-alive"
            fieldsSize += 24
        }
        bodyForbidden = answering.kind == .head || tunnel
        chunked = !noBody && length == nil && !bodyForbidden && !answering.http10
        var size = 30 + response.status.reasonPhrase.utf8.count + fieldsSize
        if !bodyForbidden, let length, length <= Self.coalesceLimit { size += length }
        var head = context.channel.allocator.buffer(capacity: size)
        head.writeStaticString("HTTP/1.1 ")
        // Three digits (HTTPResponse.Status keeps codes in 0...999).
        head.writeInteger(UInt8(ascii: "0") + UInt8(code / 100))
        head.writeInteger(UInt8(ascii: "0") + UInt8(code / 10 % 10))
        head.writeInteger(UInt8(ascii: "0") + UInt8(code % 10))
        head.writeStaticString(" ")
        head.writeString(response.status.reasonPhrase)
        head.writeStaticString("\r\n")
        Self.write(fields, to: &head, size: fieldsSize)
        append(head, context: context)
    }

    private func writeBody(_ body: ByteBuffer, context: ChannelHandlerContext) {
        let count = body.readableBytes
        guard chunked, count > 0 else {
            // An empty chunk would end the body: nothing to write.
            if count > 0 { append(body, context: context) }
            return
        }
        let size = String(count, radix: 16)
        var prefix = context.channel.allocator.buffer(capacity: count <= Self.coalesceLimit ? size.utf8.count + count + 4 : 16)
        prefix.writeString(size)
        prefix.writeStaticString("\r\n")
        if count <= Self.coalesceLimit {
            prefix.writeImmutableBuffer(body)
            prefix.writeStaticString("\r\n")
            append(prefix, context: context)
        } else {
            append(prefix, context: context)
            append(body, context: context)
            append(ByteBuffer(staticString: "\r\n"), context: context)
        }
    }

    /// Adds encoded bytes to those waiting; a large buffer is not copied: what waits goes down first.
    private func append(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        guard pending != nil else {
            pending = bytes
            return
        }
        if bytes.readableBytes <= Self.coalesceLimit {
            pending!.writeImmutableBuffer(bytes)
        } else {
            down(pending!, context: context, promise: nil)
            pending = bytes
        }
    }

    /// Passes down what waits, with `promise`; with nothing waiting, an empty write carries the
    /// promise, so it completes after everything written before it.
    private func send(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        if let bytes = pending {
            pending = nil
            down(bytes, context: context, promise: promise)
        } else if let promise {
            context.write(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        }
    }

    /// Writes encoded bytes to the handler below. A large buffer (an answer's body) is counted
    /// against `limits.max_unsent_bytes` until its write completes, with a promise of its own
    /// when the caller gave none; the many small ones are not counted. Nor is a write to a
    /// closed channel: it fails at once, and would only have made room by closing another.
    private func down(_ bytes: ByteBuffer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let count = bytes.readableBytes
        guard let unsent, count > Self.coalesceLimit, context.channel.isActive else {
            context.write(wrapOutboundOut(bytes), promise: promise)
            return
        }
        let written = promise ?? context.eventLoop.makePromise(of: Void.self)
        unsent.handed(count)
        written.futureResult.assumeIsolated().whenComplete { _ in unsent.taken(count) }
        context.write(wrapOutboundOut(bytes), promise: written)
    }

    /// Field lines and the empty line after them. `HTTPField` has already replaced any CR, LF
    /// or NUL in a value, so a value cannot split a line.
    ///
    /// Copied into the buffer's memory in one write: four `ByteBuffer` writes per field, each
    /// checking capacity and exclusive access, were 1 % of a `tools/call`'s CPU.
    /// `size`, when the caller has already summed the lines, spares a walk over the fields; it
    /// must be at least their encoded size. Each line checks that it fits, with the final
    /// CRLF (a trap, never a write past the buffer, should a later change break that sum).
    static func write(_ fields: HTTPFields, to buffer: inout ByteBuffer, size known: Int? = nil) {
        var size = 2
        if let known {
            size = known
        } else {
            for index in fields.indices { size += fields[index].name.rawName.utf8.count + fields[index].value.utf8.count + 4 }
        }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var at = 0
            func put(_ text: String) {
                let copied: Void? = text.utf8.withContiguousStorageIfAvailable { bytes in
                    UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + bytes.count)]).copyMemory(from: UnsafeRawBufferPointer(bytes))
                }
                if copied == nil {
                    for byte in text.utf8 { out[at] = byte; at += 1 }
                } else {
                    at += text.utf8.count
                }
            }
            func put(_ a: UInt8, _ b: UInt8) {
                out[at] = a
                out[at + 1] = b
                at += 2
            }
            for index in fields.indices {
                let rawName = fields[index].name.rawName, value = fields[index].value
                precondition(at + rawName.utf8.count + value.utf8.count + 6 <= out.count, "field lines larger than their size")
                put(rawName)
                put(UInt8(ascii: ":"), UInt8(ascii: " "))
                put(value)
                put(UInt8(ascii: "\r"), UInt8(ascii: "\n"))
            }
            put(UInt8(ascii: "\r"), UInt8(ascii: "\n"))
            return at
        }
    }

    /// The path (with query) of a request target (RFC 9112 §3.2): origin-form is the path
    /// already; absolute-form gives what follows its authority ("/" if nothing does);
    /// asterisk-form and authority-form are kept as they are.
    static func path(of target: String) -> String {
        if target.utf8.first == UInt8(ascii: "/") { return target }
        guard let (_, rest) = absoluteForm(target) else { return target }
        guard let first = rest.first else { return "/" }
        let tail = String(decoding: rest, as: UTF8.self)
        return first == UInt8(ascii: "?") ? "/" + tail : tail
    }

    /// The authority of an absolute-form target, or nil for the other forms.
    static func authority(of target: String) -> String? {
        absoluteForm(target).map { String(decoding: $0.authority, as: UTF8.self) }
    }

    /// An absolute-form target, `scheme "://" authority [ path ] [ "?" query ]`, split after
    /// its authority; nil for the other forms.
    private static func absoluteForm(_ target: String) -> (authority: Substring.UTF8View, rest: Substring.UTF8View)? {
        let bytes = Substring(target).utf8
        guard bytes.first != UInt8(ascii: "/"), let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
              bytes[colon...].starts(with: "://".utf8) else { return nil }
        let start = bytes.index(colon, offsetBy: 3)
        let end = bytes[start...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.endIndex
        return (bytes[start..<end], bytes[end...])
    }

    /// `keep-alive` among the Connection options, in any case.
    static func asksToKeepAlive(_ fields: HTTPFields) -> Bool {
        for value in fields[values: .connection] {
            for option in value.utf8.split(separator: UInt8(ascii: ",")) {
                let words = option.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
                if words.count == 1, words[0].equalsIgnoringASCIICase("keep-alive") { return true }
            }
        }
        return false
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// The HTTP/1.1 layer of a public connection: the codec, which reads requests with
    /// `limits` and encodes the responses.
    func addHTTPServerCodec(limits: HTTPRequestParser.Limits = .init(), deadlines: RequestDeadlines? = nil, unsent: UnsentAccount? = nil) throws {
        try addHandler(HTTPTypesCodec(secure: false, limits: limits, deadlines: deadlines, unsent: unsent))
    }
}

extension Sequence<UInt8> {
    /// Whether these bytes spell `lowercase` (lowercase letters only) in any ASCII case,
    /// without allocating a lowercased copy: field names and tokens are compared this way on
    /// every request.
    func equalsIgnoringASCIICase(_ lowercase: StaticString) -> Bool {
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        // `| 0x20` folds A–Z onto a–z, and no other byte onto a letter.
        return elementsEqual(expected) { $0 | 0x20 == $1 }
    }
}

extension String {
    /// Whether this starts with `lowercase` in any ASCII case (letters folded, every other
    /// byte exact), without allocating a lowercased copy.
    func hasPrefixIgnoringASCIICase(_ lowercase: StaticString) -> Bool {
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        var bytes = utf8.makeIterator()
        for wanted in expected {
            guard let byte = bytes.next() else { return false }
            let isLetter = wanted >= UInt8(ascii: "a") && wanted <= UInt8(ascii: "z")
            guard byte == wanted || (isLetter && byte | 0x20 == wanted) else { return false }
        }
        return true
    }
}
