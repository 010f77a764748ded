import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Per-connection request deadlines against slow clients (slowloris).
///
/// The header deadline starts at the first byte of a request (or when the connection
/// opens) and ends when the decoder has the complete head; a client that trickles its
/// headers is disconnected when it fires. Two handlers share this state: one under the
/// HTTP decoder sees raw bytes arrive, one above it sees the decoded head and the end of
/// each response. Both run on the connection's event loop, so no locking is needed.
///
/// One lazily re-armed timer serves both deadlines: a keep-alive connection moves between
/// them on every request, and scheduling and cancelling a task each time (two heap
/// operations on the event loop's timer queue per deadline) cost more than the check.
/// The timer is only rescheduled when it fires before the current deadline, or when a new
/// deadline is earlier than the one it is armed for.
final class RequestDeadlines: @unchecked Sendable {
    enum Phase { case idle, readingHead, inRequest }

    private(set) var phase: Phase = .idle
    let headerTimeout: TimeAmount
    /// Keep-alive idle time between a response and the next request's first byte.
    let idleTimeout: TimeAmount?
    let ticket: (any AdmissionTicket)?
    let onTimeout: @Sendable (String) -> Void
    /// True between a finished response and the next request's first byte.
    private var keepAliveIdle = false
    /// When the current phase ends the connection; nil while a request is being handled.
    private var deadline: NIODeadline?
    private var timer: (task: Scheduled<Void>, fires: NIODeadline)?

    init(headerTimeout: TimeAmount, idleTimeout: TimeAmount? = nil, ticket: (any AdmissionTicket)?, onTimeout: @escaping @Sendable (String) -> Void) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.ticket = ticket
        self.onTimeout = onTimeout
    }

    func startHead(_ context: ChannelHandlerContext) {
        guard phase == .idle else { return }
        if keepAliveIdle {
            keepAliveIdle = false
            ticket?.connectionIdle(false)
        }
        phase = .readingHead
        arm(.now() + headerTimeout, context)
    }

    func headReceived() {
        phase = .inRequest
        deadline = nil
    }

    func responseEnded(_ context: ChannelHandlerContext) {
        phase = .idle
        keepAliveIdle = true
        ticket?.connectionIdle(true)
        if let idleTimeout {
            arm(.now() + idleTimeout, context)
        } else {
            deadline = nil
        }
    }

    func cancel() {
        deadline = nil
        timer?.task.cancel()
        timer = nil
    }

    private func arm(_ newDeadline: NIODeadline, _ context: ChannelHandlerContext) {
        deadline = newDeadline
        if let timer {
            if timer.fires <= newDeadline { return }
            timer.task.cancel()
        }
        schedule(at: newDeadline, channel: context.channel, on: context.eventLoop)
    }

    private func schedule(at when: NIODeadline, channel: any Channel, on loop: any EventLoop) {
        let task = loop.scheduleTask(deadline: when) { [self] in
            timer = nil
            guard let deadline else { return }
            if NIODeadline.now() < deadline {
                schedule(at: deadline, channel: channel, on: loop)
                return
            }
            self.deadline = nil
            onTimeout(phase == .readingHead ? "header" : "idle")
            channel.close(promise: nil)
        }
        timer = (task, when)
    }
}

/// Under the HTTP decoder: arms the header deadline when a request's first byte arrives.
final class RawRequestStartHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let deadlines: RequestDeadlines

    init(deadlines: RequestDeadlines) { self.deadlines = deadlines }

    func handlerAdded(context: ChannelHandlerContext) {
        // A connection that never sends a request is also bounded by the header deadline.
        if context.channel.isActive { deadlines.startHead(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        deadlines.startHead(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deadlines.startHead(context)
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadlines.cancel()
        context.fireChannelInactive()
    }
}

/// Above the HTTP codec: ends the header deadline at the head, re-arms after the response,
/// and refuses a header block over the caps with 431 (RFC 6585 §5) instead of a bare 400.
/// Refusals go up to ``RequestDispatcher`` as ``RequestRefusal`` events, answered in turn.
final class RequestPhaseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    let deadlines: RequestDeadlines

    init(deadlines: RequestDeadlines) {
        self.deadlines = deadlines
    }

    /// Set once a request was refused (here or by the head guard): the rest of the
    /// connection's input is dropped, and it closes after the refusal.
    private var refusing = false
    /// Requests read and not yet answered: with pipelining, the next one is already read
    /// when a response ends, and the connection is not idle then.
    private var unanswered = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refusing { return }
        if case .head(let head) = unwrapInboundIn(data) {
            deadlines.headReceived()
            if let problem = Self.framingProblem(head.headerFields) {
                refuse(RequestRefusal(.badRequest, message: "Bad Request: \(problem)"), context: context)
                return
            }
            unanswered += 1
        }
        context.fireChannelRead(data)
    }

    /// Request smuggling patterns (RFC 9112 §6.1, §6.3): a message framed both by
    /// Content-Length and Transfer-Encoding, conflicting lengths, or a transfer coding
    /// other than a lone `chunked` is refused and the connection closed, so no two parsers
    /// can disagree about where it ends.
    static func framingProblem(_ fields: HTTPFields) -> String? {
        let lengths = fields[values: .contentLength]
        let codings = fields[values: .transferEncoding]
        // The common case, checked without building sets: one plain length or none.
        if codings.isEmpty, lengths.count <= 1, !(lengths.first?.utf8.contains(UInt8(ascii: ",")) ?? false) { return nil }
        if !codings.isEmpty && !lengths.isEmpty { return "both Content-Length and Transfer-Encoding" }
        if Set(lengths).count > 1 || lengths.contains(where: { $0.contains(",") && Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }).count > 1 }) {
            return "conflicting Content-Length values"
        }
        if !codings.isEmpty && (codings.count != 1 || codings[0].trimmingCharacters(in: .whitespaces).lowercased() != "chunked") {
            return "unsupported Transfer-Encoding"
        }
        return nil
    }

    /// The dispatcher writes the refusal once the requests before it are answered.
    private func refuse(_ refusal: RequestRefusal, context: ChannelHandlerContext) {
        refusing = true
        deadlines.cancel()
        context.fireUserInboundEventTriggered(refusal)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RequestRefusal { refusing = true }  // from the codec below (head guard, bad method)
        context.fireUserInboundEventTriggered(event)
    }

    /// Re-arms the idle deadline at the end of a response (closing after a response that
    /// says `Connection: close` is `RequestDispatcher`'s). Not after a refusal: the connection
    /// closes once the refusal, the last answer, is written.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            unanswered = max(0, unanswered - 1)
            if unanswered == 0, !refusing { deadlines.responseEnded(context) }
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError, parserError == .headerOverflow {
            // After a refusal nothing more is answered (the dispatcher counts what it writes).
            if !refusing {
                refuse(RequestRefusal(.requestHeaderFieldsTooLarge), context: context)
            }
            return
        }
        context.fireErrorCaught(error)
    }
}
