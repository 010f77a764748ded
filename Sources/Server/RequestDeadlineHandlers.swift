import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-connection request deadlines against slow clients (slowloris).
///
/// The header deadline starts at the first byte of a request (or when the connection
/// opens) and ends when the decoder has the complete head; a client that trickles its
/// headers is disconnected when it fires. Two handlers share this state: one under the
/// HTTP decoder sees raw bytes arrive, and ``HTTPTypesCodec`` above it sees the decoded
/// head and the end of each response. Both run on the connection's event loop, so no locking is needed.
///
/// One lazily re-armed timer serves both deadlines: a keep-alive connection moves between
/// them on every request, and scheduling and cancelling a task each time (two heap
/// operations on the event loop's timer queue per deadline) cost more than the check.
/// The timer is only rescheduled when it fires before the current deadline, or when a new
/// deadline is earlier than the one it is armed for. Times are the loop's (`EventLoop.now`):
/// an embedded loop's clock drives them in tests.
final class RequestDeadlines: @unchecked Sendable {
    enum Phase { case idle, readingHead, inRequest, closing }

    private(set) var phase: Phase = .idle
    let headerTimeout: TimeAmount
    /// Keep-alive idle time between a response and the next request's first byte.
    let idleTimeout: TimeAmount?
    let ticket: (any AdmissionTicket)?
    let onTimeout: @Sendable (String) -> Void
    /// True between a finished response and the next request's first byte.
    private var keepAliveIdle = false
    /// The response just ended is listed as idle (one the global cap may close) at the
    /// codec's next flush, once its last bytes have been handed down (``flushed(_:)``).
    private var listAtFlush = false
    /// Counts the times the connection left idle: an answer's write that completes after the
    /// next request came must not list that one as idle.
    private var idleEpoch = 0
    /// When the current phase ends the connection; nil while a request is being handled.
    private var deadline: NIODeadline?
    private var timer: (task: Scheduled<Void>, fires: NIODeadline)?
    private var sendTimeoutCounted = false
    /// Bytes of answers NIO still holds for the socket (`bufferedWritableBytes`), asked only
    /// when an idle deadline falls.
    private let pendingBytes: (any Channel) -> Int
    /// What was still to go out when the idle deadline last fell and was extended, and for
    /// how many idle timeouts in a row no fewer bytes have waited.
    private var pendingAtExtension: Int?
    private var stalls = 0
    /// The dispatcher waits for the client to take an answer before it reads on: the first
    /// byte of a next request then starts no header deadline (10 s, never extended), and
    /// the idle one, extended while the answer goes out, goes on. The codec chooses the
    /// deadline for what came once the client has taken it.
    var waitingForDrain = false
    /// The connection's codec, which answers a head cut off by the header deadline (408).
    weak var codec: HTTPTypesCodec?

    init(headerTimeout: TimeAmount, idleTimeout: TimeAmount? = nil, ticket: (any AdmissionTicket)?,
         pendingBytes: @escaping (any Channel) -> Int = RequestDeadlines.bufferedBytes,
         onTimeout: @escaping @Sendable (String) -> Void) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.ticket = ticket
        self.pendingBytes = pendingBytes
        self.onTimeout = onTimeout
    }

    static func bufferedBytes(_ channel: any Channel) -> Int {
        (try? channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)) ?? 0
    }

    func startHead(_ context: ChannelHandlerContext) {
        guard phase == .idle, !waitingForDrain else { return }
        leaveIdle()
        phase = .readingHead
        arm(context.eventLoop.now + headerTimeout, context)
    }

    func headReceived() {
        // A head read while waiting for the client to take an answer started no head phase:
        // the connection was left listed as idle, and the global cap could close it while it
        // served this request.
        leaveIdle()
        phase = .inRequest
        deadline = nil
    }

    private func leaveIdle() {
        guard keepAliveIdle else { return }
        keepAliveIdle = false
        listAtFlush = false
        idleEpoch &+= 1
        ticket?.connectionIdle(false)
    }

    /// The send deadline fired (the kernel's, see ``RawRequestStartHandler``): counted as
    /// `phase="send"`, at most once per connection.
    func sendTimedOut() {
        guard !sendTimeoutCounted else { return }
        sendTimeoutCounted = true
        onTimeout("send")
    }

    /// The dispatcher started a request's task (true) or wrote the end of its response
    /// (false): passed on to the admission ticket (the ops cap evicts a connection that is
    /// not serving).
    func serving(_ serving: Bool) {
        ticket?.serving(serving)
    }

    /// `flushPending`: the answer's end was just encoded, and the codec sends its last bytes
    /// at the flush that follows, which calls ``flushed(_:)``; otherwise (the end was
    /// encoded and flushed earlier) they are out of the codec already.
    func responseEnded(_ context: ChannelHandlerContext, flushPending: Bool = false) {
        phase = .idle
        keepAliveIdle = true
        if flushPending {
            listAtFlush = true
        } else {
            listIdleWhenWritten(context)
        }
        if let idleTimeout {
            arm(context.eventLoop.now + idleTimeout, context)
        } else {
            deadline = nil
        }
    }

    /// The codec flushed: a response that ended before it has all its bytes in the channel.
    func flushed(_ context: ChannelHandlerContext) {
        guard listAtFlush else { return }
        listAtFlush = false
        listIdleWhenWritten(context)
    }

    /// Lists the connection as idle once the channel has written what it holds: at the
    /// global cap, a client still reading a large answer was closed as idle and got the
    /// answer cut short. What the kernel holds still goes out after a close; what NIO holds
    /// does not. An empty write's promise completes once everything written before it is
    /// written, and only an answer still going out pays for one.
    private func listIdleWhenWritten(_ context: ChannelHandlerContext) {
        guard let ticket, keepAliveIdle else { return }
        guard pendingBytes(context.channel) > 0 else {
            ticket.connectionIdle(true)
            return
        }
        let epoch = idleEpoch
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenSuccess { [self] in
            guard epoch == idleEpoch, keepAliveIdle else { return }
            ticket.connectionIdle(true)
        }
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(capacity: 0)), promise: written)
    }

    /// A pipelined request waits for the client to read the response before it: a client
    /// that does not read is idle, and gets the idle timeout (counted as `idle`).
    func awaitDrain(_ context: ChannelHandlerContext) {
        if let idleTimeout { arm(context.eventLoop.now + idleTimeout, context) }
    }

    /// The connection closes once its last answer is written: input no longer starts a
    /// request (nor its header deadline), and `bound` is how long the answer may take to go
    /// out (counted as `idle`: the client is not reading it). nil: the caller bounds the
    /// close (the dispatcher's linger).
    func closing(within bound: TimeAmount?, _ context: ChannelHandlerContext) {
        phase = .closing
        if let bound {
            arm(context.eventLoop.now + bound, context)
        } else {
            cancel()
        }
    }

    /// The client read it: the request is answered, under no deadline, like any other.
    func drained() {
        deadline = nil
    }

    func cancel() {
        deadline = nil
        timer?.task.cancel()
        timer = nil
    }

    private func arm(_ newDeadline: NIODeadline, _ context: ChannelHandlerContext) {
        deadline = newDeadline
        pendingAtExtension = nil
        stalls = 0
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
            if loop.now < deadline {
                schedule(at: deadline, channel: channel, on: loop)
                return
            }
            self.deadline = nil
            if phase != .readingHead, let idleTimeout, stillTaking(channel) {
                self.deadline = loop.now + idleTimeout
                schedule(at: loop.now + idleTimeout, channel: channel, on: loop)
                return
            }
            onTimeout(phase == .readingHead ? "header" : "idle")
            if phase == .readingHead { _ = codec?.answerHeadTimeout() }
            channel.close(promise: nil)
        }
        timer = (task, when)
    }

    /// Whether an answer is still going out to a client that keeps taking it: the idle time
    /// (after a response, waiting for a pipelined one's turn, or before the close after the
    /// last) starts when the answer is queued, and a large answer read slowly over a slow
    /// link was cut at the idle timeout, mid-answer. It is extended instead while bytes wait,
    /// as long as fewer wait than at the last extension within two idle timeouts: the kernel
    /// reports the socket writable (and NIO hands it more) only once its free space is at
    /// least half of what it holds queued (about a third of a send buffer of up to 4 MiB),
    /// which a reader that keeps reading can take longer than one idle timeout to free. A
    /// client that stops reading is closed two to three idle timeouts after its last progress
    /// (three if it never reads; sooner by `send_timeout`). As with nginx's `send_timeout`, a client
    /// that keeps taking bytes keeps the answer going: the whole is bounded by the answer's
    /// size (capped) and the per-address and global connection caps.
    private func stillTaking(_ channel: any Channel) -> Bool {
        let pending = pendingBytes(channel)
        guard pending > 0 else { return false }
        if pending < (pendingAtExtension ?? .max) {
            pendingAtExtension = pending
            stalls = 0
            return true
        }
        stalls += 1
        return stalls <= 1
    }
}

/// Under the HTTP decoder: arms the header deadline when a request's first byte arrives, and
/// tells the admission ticket (``RequestDeadlines/ticket``) when the TLS handshake completed.
/// Told here, by a handler that stays, rather than by one of its own added per connection and
/// removed after the handshake: adding and removing it was 1 % of a new TLS connection's CPU.
final class RawRequestStartHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let deadlines: RequestDeadlines
    /// Recognises the handshake's completion event; nil when there is nothing to tell.
    private let handshake: (any ConnectionSecurity)?
    private var handshakeReported = false

    init(deadlines: RequestDeadlines, handshake: (any ConnectionSecurity)? = nil) {
        self.deadlines = deadlines
        self.handshake = handshake
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !handshakeReported, let handshake, handshake.isHandshakeCompletion(event) {
            handshakeReported = true
            deadlines.ticket?.handshakeFinished()
        }
        context.fireUserInboundEventTriggered(event)
    }

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

    /// The kernel gave up on data the client left unacknowledged (`limits.send_timeout`, the
    /// TCP_USER_TIMEOUT of the listening socket, or the kernel's own retries when it is off):
    /// counted as that deadline firing. Linux reports ETIMEDOUT, or an ICMP error that came
    /// back meanwhile (host or network unreachable); on an established connection these
    /// surface only then. NIO reports it here when its read finds it, the usual path; when a
    /// write finds it first, or the client had half-closed (the read sees end of input), NIO
    /// closes the connection without an `errorCaught`, and it is not counted.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? IOError, Self.sendGaveUp.contains(error.errnoCode) { deadlines.sendTimedOut() }
        context.fireErrorCaught(error)
    }

    static let sendGaveUp: Set<CInt> = [ETIMEDOUT, EHOSTUNREACH, ENETUNREACH]
}
