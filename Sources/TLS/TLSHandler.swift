import COpenSSL
import NIOCore

/// Terminates (server role) or originates (client role) TLS on a channel through OpenSSL.
///
/// Below it: ciphertext `ByteBuffer`s from the socket. Above it: plaintext `ByteBuffer`s.
/// Layering as in swift-nio-ssl: this handler drives a `TLSConnection` (one `SSL*`), which
/// reads and writes a `ByteBufferBIO`; nothing here touches a socket.
///
/// Bounds (DESIGN principle 2):
/// - the handshake must finish within `handshakeTimeout`, else the channel is closed;
/// - ciphertext handed to the channel but not yet written to the socket is counted: above half of
///   `maxBufferedCiphertext` the handler stops reading from the socket (a peer that does not read
///   our answers cannot make us produce more); a write while the count is over the cap fails with
///   `.bufferLimitExceeded` and closes the channel (the layer above ignored writability). The
///   count is an upper bound, over by at most an eighth of the cap: see `writeCiphertext`;
/// - ciphertext received but not yet decrypted, and plaintext written during the handshake, are
///   capped by the same number.
///
/// Closing: `close(mode: .all)` sends close_notify, then closes. `close(mode: .output)` sends
/// close_notify and half-closes TCP. A received close_notify fires `TLSEvent.closeNotifyReceived`;
/// with `ChannelOptions.allowRemoteHalfClosure` it also fires `ChannelEvent.inputClosed` and keeps
/// our side open, otherwise we answer with our close_notify and close. A TCP EOF without
/// close_notify after the handshake is a ragged EOF: `TLSError.uncleanShutdown` (RFC 8446 §6.1).
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        /// Not yet added to an active channel.
        case idle
        case handshaking
        case active
        /// Finished (closed or failed): everything further is dropped.
        case closed
    }

    private let tlsContext: TLSContext
    private let role: TLSRole
    private let handshakeTimeout: TimeAmount
    private let maxBufferedCiphertext: Int
    private let observer: (any TLSObserver)?
    /// Server role: the most TLS 1.3 KeyUpdates the peer may send on the connection (nil: no
    /// cap; the listener passes `tls.max_key_updates`). Each costs a key derivation, and one
    /// asking for ours in return an answer; OpenSSL takes any number, and a client that keeps
    /// sending them, and never reads the answers, had the server derive keys and queue records
    /// for nothing. A legitimate peer sends one after some 2^24 records (RFC 8446 §5.5's
    /// AES-GCM limit; rustls, NSS), most never do.
    private let maxKeyUpdates: Int?

    private var state: State = .idle
    private(set) var connection: TLSConnection?
    /// The handshake deadline. A `NIOScheduledCallback` with this handler as its target, not a
    /// `scheduleTask` closure: that would allocate a closure context and a promise per connection.
    private var handshakeTimer: NIOScheduledCallback?
    /// The context the deadline fires in; set while `handshakeTimer` is scheduled.
    private var timerContext: ChannelHandlerContext?
    private var handshakeStarted: NIODeadline = .now()
    private var handshakeReported = false
    /// Plaintext written before the handshake finished, or, once active, since the last
    /// flush (see `write`).
    private var pendingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    /// Writes OpenSSL could not take yet (``TLSConnection/write(_:)``: the peer's
    /// post-handshake message is half received), retried in order after each read. Later
    /// writes queue behind them; their bytes count against the cap, as the peer decides how
    /// long they wait.
    private var blockedWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var blockedBytes = 0
    private var pendingWriteBytes = 0
    private var flushPending = false
    /// Ciphertext given to the channel, and how much of it is known to be written: every byte
    /// up to the end of the latest tracked write that completed (the channel writes in order).
    private var ciphertextGiven = 0
    private var ciphertextConfirmed = 0
    /// Ciphertext given to the channel whose write may not have completed (an upper bound).
    private var unwrittenCiphertext: Int { ciphertextGiven - ciphertextConfirmed }
    /// A `read()` from above that we held back because of `unwrittenCiphertext`.
    private var readHeldBack = false
    private var sentCloseNotify = false
    private var receivedCloseNotify = false
    /// `close(mode: .all)` has begun (``channelInactive(context:)`` must not call it unclean).
    private var closingLocally = false
    /// The socket failed (a reset, a broken pipe): nothing more can be sent on it.
    private var transportFailed = false

    /// The negotiated ALPN protocol, once the handshake completed.
    public private(set) var negotiatedALPN: String?
    /// Server role: the SNI name the client asked for (RFC 6066 §3), once the handshake completed.
    public private(set) var requestedServerName: String?
    /// "TLSv1.3" / "TLSv1.2", once the handshake completed.
    public private(set) var negotiatedProtocol: String?
    /// Server role: the SHA-256 of the client certificate (DER) the handshake verified, if the
    /// client presented one (`client_auth` optional or required); what a certificate-bound
    /// token is checked against (RFC 8705 §3). Fixed for the connection: no renegotiation.
    public private(set) var peerCertificateSHA256: [UInt8]?

    public init(
        context: TLSContext,
        role: TLSRole,
        handshakeTimeout: TimeAmount = .seconds(10),
        maxBufferedCiphertext: Int = 256 * 1024,
        maxKeyUpdates: Int? = nil,
        observer: (any TLSObserver)? = nil
    ) {
        self.tlsContext = context
        self.role = role
        self.handshakeTimeout = handshakeTimeout
        self.maxBufferedCiphertext = max(maxBufferedCiphertext, 32 * 1024)
        self.maxKeyUpdates = maxKeyUpdates
        self.observer = observer
    }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelHandshakeTimer()
        failPendingWrites(TLSError(kind: .writeAfterClose, reason: "TLS handler removed"))
    }

    /// A socket error (`IOError`: ECONNRESET on read, EPIPE on write) means the peer is gone:
    /// a close_notify written after it would fail too, and on Linux raise SIGPIPE first
    /// (a client that resets after its handshake cost us ≈ 4 % of the connection's CPU that
    /// way). nginx skips its shutdown alert in the same case.
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is IOError { transportFailed = true }
        context.fireErrorCaught(error)
    }

    /// The layers above hear of the connection first: a handshake that cannot start (no
    /// `SSL*`, a server name OpenSSL refuses) or whose first flight fails ends the channel,
    /// and they must not see its error and its end before its start.
    public func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        startHandshake(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        cancelHandshakeTimer()
        switch state {
        case .handshaking:
            state = .closed
            reportHandshake(.closed)
            context.fireErrorCaught(
                TLSError(kind: .handshakeTruncated, reason: "the peer closed the connection during the handshake"))
        case .active where !receivedCloseNotify && !closingLocally:
            // Deliver what is decryptable, then report the missing close_notify.
            if let connection, connection.hasBufferedInput {
                connection.bio.peerClosed = true
                readRecords(context: context)
            }
            // A reset or broken pipe was reported already (``errorCaught(context:error:)``):
            // told again as a missing close_notify, one failure came up twice, once mislabelled.
            if state == .active, !transportFailed {
                state = .closed
                context.fireErrorCaught(
                    TLSError(kind: .uncleanShutdown, reason: "the peer closed TCP without close_notify"))
            }
        default:
            break
        }
        state = .closed
        failPendingWrites(TLSError(kind: .writeAfterClose, reason: "channel closed"))
        context.fireChannelInactive()
    }

    private func startHandshake(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        do {
            connection = try TLSConnection(context: tlsContext, role: role, allocator: context.channel.allocator)
        } catch {
            state = .closed
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        state = .handshaking
        handshakeStarted = .now()
        // Throws only when the event loop is shutting down, which closes the channel anyway.
        timerContext = context
        handshakeTimer = try? context.eventLoop.assumeIsolated().scheduleCallback(
            in: handshakeTimeout, handler: HandshakeDeadline(handler: self))
        // The client speaks first; the server just waits for a ClientHello.
        if case .client = role { advanceHandshake(context: context) }
        // Handshake bytes must flow even if the layer above has not asked to read yet.
        context.read()
    }

    private func cancelHandshakeTimer() {
        if let handshakeTimer {
            timerContext?.eventLoop.assumeIsolated().cancelScheduledCallback(handshakeTimer)
        }
        handshakeTimer = nil
        timerContext = nil
    }

    fileprivate func handshakeDeadlinePassed() {
        guard let context = timerContext else { return }
        handshakeTimer = nil
        timerContext = nil
        handshakeTimedOut(context: context)
    }

    private func handshakeTimedOut(context: ChannelHandlerContext) {
        guard state == .handshaking else { return }
        state = .closed
        reportHandshake(.timeout)
        context.fireErrorCaught(
            TLSError(kind: .handshakeTimeout, reason: "no complete handshake within \(handshakeTimeout)"))
        context.close(promise: nil)
    }

    // MARK: - Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // RFC 8446 §6.1: data received after a closure alert MUST be ignored. Buffering it
        // would also have OpenSSL report the close_notify again on every read.
        guard let connection, state == .handshaking || state == .active, !receivedCloseNotify else { return }
        var bytes = unwrapInboundIn(data)
        connection.bio.receive(&bytes)
        if state == .handshaking { advanceHandshake(context: context) }
        if state == .active { readRecords(context: context) }
        // What is left cannot be decrypted yet (a partial record, ≤ 16.6 KiB by RFC 8446 §5.2).
        if state != .closed, connection.bio.inboundBytes > maxBufferedCiphertext {
            fail(context: context, TLSError(kind: .bufferLimitExceeded,
                reason: "more than \(maxBufferedCiphertext) bytes of undecrypted ciphertext"))
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        connection?.bio.compactIfIdle()
        // With autoRead off (NIOAsyncChannel) the layer above only asks for plaintext; the
        // handshake must still make progress, bounded by its deadline.
        if state == .handshaking { context.read() }
        context.fireChannelReadComplete()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // TCP FIN from the peer. Let OpenSSL see EOF: it tells a clean close from a truncation.
            guard let connection, state == .handshaking || state == .active else {
                context.fireUserInboundEventTriggered(event)
                return
            }
            connection.bio.peerClosed = true
            if state == .handshaking {
                advanceHandshake(context: context)
                if state == .handshaking {
                    state = .closed
                    reportHandshake(.closed)
                    fail(context: context, TLSError(kind: .handshakeTruncated,
                        reason: "the peer closed the connection during the handshake"))
                }
                return
            }
            // After close_notify the input was already reported closed (peerSentCloseNotify).
            if receivedCloseNotify { return }
            // Nothing buffered: OpenSSL could only report the same EOF, at the cost of an error-queue entry.
            if connection.hasBufferedInput { readRecords(context: context) }
            if state == .active && !receivedCloseNotify {
                fail(context: context, TLSError(kind: .uncleanShutdown,
                    reason: "the peer closed TCP without close_notify"))
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func advanceHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        let outcome = connection.handshake()
        flushCiphertext(context: context)
        // The flush can fail on a socket the peer has reset, and NIO then closes the channel
        // at once: channelInactive has already ended the handshake as closed.
        guard state == .handshaking else { return }
        switch outcome {
        case .wantRead:
            break
        case .complete:
            cancelHandshakeTimer()
            state = .active
            negotiatedALPN = connection.negotiatedALPN
            negotiatedProtocol = connection.protocolVersion
            if connection.isServer {
                requestedServerName = connection.requestedServerName
                peerCertificateSHA256 = connection.peerCertificateSHA256
            }
            reportHandshake(.ok)
            if connection.isServer, let maxKeyUpdates { connection.countKeyUpdates(limit: maxKeyUpdates) }
            context.fireUserInboundEventTriggered(TLSEvent.handshakeCompleted(alpn: negotiatedALPN))
            writePendingPlaintext(context: context)
        case .failed(let error, let result):
            reportHandshake(result)
            fail(context: context, error)
        }
    }

    /// Decrypts every complete record now buffered. Bounded: each round consumes input.
    ///
    /// Records are read back to back into one buffer, sized to what the buffered ciphertext
    /// can hold (at most one record's 16 KiB) and passed on when full or when nothing is left.
    /// A buffer per record would let a peer that sends 1-byte records pin 16 KiB for each of
    /// them wherever the layers above keep slices (a pipelined request, a streamed body).
    private func readRecords(context: ChannelHandlerContext) {
        guard let connection else { return }
        var plaintext: ByteBuffer?
        readLoop: while state == .active {
            let buffered = connection.bio.inboundBytes + connection.pendingPlaintextBytes
            // Nothing to decrypt: no call, no buffer (saves an allocation per handshake).
            if buffered == 0 && !connection.bio.peerClosed && !connection.hasPendingPlaintext { break readLoop }
            if plaintext?.writableBytes ?? 0 == 0 {
                if let full = plaintext.take() { context.fireChannelRead(wrapInboundOut(full)) }
                guard state == .active else { break readLoop }
                plaintext = context.channel.allocator.buffer(capacity: min(Self.maxRecordPlaintext, max(buffered, 256)))
            }
            switch connection.read(into: &plaintext!) {
            case .data:
                continue readLoop
            case .wantRead:
                break readLoop
            case .closeNotify:
                if let data = plaintext.take(), data.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(data)) }
                receivedCloseNotify = true
                peerSentCloseNotify(context: context)
                break readLoop
            case .failed(let error):
                if let data = plaintext.take(), data.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(data)) }
                fail(context: context, error)
                return
            }
        }
        if let data = plaintext.take(), data.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(data)) }
        if let maxKeyUpdates, state == .active, connection.bio.keyUpdates > maxKeyUpdates {
            observer?.keyUpdatesExceeded()
            fail(context: context, TLSError(kind: .tooManyKeyUpdates,
                reason: "the peer sent more than \(maxKeyUpdates) KeyUpdates on one connection"))
            return
        }
        // OpenSSL may have queued a reply (e.g. a TLS 1.3 KeyUpdate or an alert).
        flushCiphertext(context: context)
        retryBlockedWrites(context: context)
    }

    private func peerSentCloseNotify(context: ChannelHandlerContext) {
        context.fireUserInboundEventTriggered(TLSEvent.closeNotifyReceived)
        let halfClosureAllowed = (try? context.channel.syncOptions?.getOption(.allowRemoteHalfClosure)) ?? false
        if halfClosureAllowed {
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        } else {
            sendCloseNotify(context: context)
            state = .closed
            context.close(promise: nil)
        }
    }

    // MARK: - Outbound

    public func read(context: ChannelHandlerContext) {
        if unwrittenCiphertext > maxBufferedCiphertext / 2 {
            if !readHeldBack { observer?.backpressure(.readsPaused) }
            readHeldBack = true
        } else {
            context.read()
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let plaintext = unwrapOutboundIn(data)
        switch state {
        case .idle, .handshaking:
            guard pendingWriteBytes <= maxBufferedCiphertext else {
                // The connection ends with this write: were it just refused, a later one could
                // go out and leave a hole in the stream.
                let error = TLSError(kind: .bufferLimitExceeded,
                    reason: "more than \(maxBufferedCiphertext) bytes written before the handshake finished")
                failThenFailPromise(context: context, error, promise)
                return
            }
            pendingWriteBytes += plaintext.readableBytes
            pendingWrites.append((plaintext, promise))
        case .active where sentCloseNotify:
            // After our close_notify (`close(mode: .output)`) nothing more can be sent: failed
            // now, as NIO fails a write after a half-close, not at a flush that may never come.
            promise?.fail(TLSError(kind: .writeAfterClose, reason: "close_notify already sent"))
        case .active:
            // Small writes are held until the flush and sealed as one record: an HTTP
            // response arrives as a head and a body, and a record each cost a second
            // SSL_write, ciphertext buffer and completion promise per response.
            if pendingWrites.isEmpty, plaintext.readableBytes >= Self.maxRecordPlaintext {
                encryptAndWrite(context: context, plaintext, promise: promise)
                return
            }
            pendingWriteBytes += plaintext.readableBytes
            pendingWrites.append((plaintext, promise))
            if pendingWriteBytes >= Self.maxRecordPlaintext { writeHeldPlaintext(context: context) }
        case .closed:
            promise?.fail(TLSError(kind: .writeAfterClose, reason: "the TLS session is closed"))
        }
    }

    public func flush(context: ChannelHandlerContext) {
        if state == .active {
            writeHeldPlaintext(context: context)
            context.flush()
        } else {
            flushPending = true
        }
    }

    /// The largest plaintext of one TLS record (RFC 8446 §5.1).
    static let maxRecordPlaintext = 16_384

    /// Encrypts the writes held since the last flush: as one record when they fit, each on
    /// its own (no copy) when they do not.
    private func writeHeldPlaintext(context: ChannelHandlerContext) {
        guard state == .active, !pendingWrites.isEmpty else { return }
        // One write (an HTTP response, coalesced above): the array keeps its storage for the
        // next one, where handing it over made a new one for every response.
        if pendingWrites.count == 1 {
            let (plaintext, promise) = pendingWrites[0]
            pendingWrites.removeAll(keepingCapacity: true)
            pendingWriteBytes = 0
            encryptAndWrite(context: context, plaintext, promise: promise)
            return
        }
        let writes = pendingWrites
        let total = pendingWriteBytes
        pendingWrites = []
        pendingWriteBytes = 0
        if total > Self.maxRecordPlaintext {
            for (plaintext, promise) in writes {
                encryptAndWrite(context: context, plaintext, promise: promise)
            }
            return
        }
        var combined = context.channel.allocator.buffer(capacity: total)
        var promises: [EventLoopPromise<Void>] = []
        for (plaintext, promise) in writes {
            combined.writeImmutableBuffer(plaintext)
            if let promise { promises.append(promise) }
        }
        let promise: EventLoopPromise<Void>?
        switch promises.count {
        case 0: promise = nil
        case 1: promise = promises[0]
        default:
            let all = context.eventLoop.makePromise(of: Void.self)
            for each in promises { all.futureResult.cascade(to: each) }
            promise = all
        }
        encryptAndWrite(context: context, combined, promise: promise)
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .input:
            context.close(mode: mode, promise: promise)
        case .output where state == .handshaking:
            // A handshake cannot finish without our half: it would wait for its deadline.
            close(context: context, mode: .all, promise: promise)
        case .output:
            writeHeldPlaintext(context: context)
            sendCloseNotify(context: context)
            // While a post-handshake message of the peer's is half received OpenSSL can send no
            // close_notify, and writes waiting for the rest of it could not follow our FIN: the
            // connection closes, failing them (the FIN used to go without the alert, and the
            // writes failed later).
            if state == .active, !transportFailed, !sentCloseNotify || !blockedWrites.isEmpty {
                close(context: context, mode: .all, promise: promise)
                return
            }
            context.close(mode: .output, promise: promise)
        case .all:
            // Writing can fail on a reset socket and close the channel under us: that close
            // is ours, not a ragged EOF from the peer.
            closingLocally = true
            writeHeldPlaintext(context: context)
            sendCloseNotify(context: context)
            cancelHandshakeTimer()
            if state == .handshaking {
                reportHandshake(.closed)
            }
            state = .closed
            context.close(mode: .all, promise: promise)
        }
    }

    private func sendCloseNotify(context: ChannelHandlerContext) {
        guard state == .active, !sentCloseNotify, !transportFailed, let connection, connection.sendCloseNotify() else { return }
        sentCloseNotify = true
        flushCiphertext(context: context)
    }

    private func encryptAndWrite(context: ChannelHandlerContext, _ plaintext: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let connection, !sentCloseNotify else {
            promise?.fail(TLSError(kind: .writeAfterClose, reason: "close_notify already sent"))
            return
        }
        if !blockedWrites.isEmpty {
            block(context: context, plaintext, promise: promise)
            return
        }
        // An empty write (the end of an HTTP response, carrying the promise that says the
        // response is out) adds no ciphertext: it is not refused by the cap, and its promise
        // completes once everything written before it has been written, as in the channel.
        if plaintext.readableBytes == 0 {
            context.write(wrapOutboundOut(plaintext), promise: promise)
            return
        }
        // The cap bounds the backlog a peer that does not read can build up: a write is
        // refused while earlier ciphertext over the cap is still unsent. A single large write
        // (a 1 MiB tool result) is accepted whole: the layer above already holds it, and the
        // channel's writability, which it respects, stops the next one.
        guard unwrittenCiphertext <= maxBufferedCiphertext else {
            let error = TLSError(kind: .bufferLimitExceeded,
                reason: "\(unwrittenCiphertext) bytes of ciphertext not yet sent; the peer is not reading")
            failThenFailPromise(context: context, error, promise)
            return
        }
        switch connection.write(plaintext) {
        case .written:
            writeCiphertext(context: context, promise: promise)
        case .wantsRead:
            block(context: context, plaintext, promise: promise)
        case .failed(let error):
            failThenFailPromise(context: context, error, promise)
        }
    }

    private func block(context: ChannelHandlerContext, _ plaintext: ByteBuffer, promise: EventLoopPromise<Void>?) {
        let first = blockedWrites.isEmpty
        blockedWrites.append((plaintext, promise))
        blockedBytes += plaintext.readableBytes
        if blockedBytes > maxBufferedCiphertext {
            fail(context: context, TLSError(kind: .bufferLimitExceeded,
                reason: "\(blockedBytes) bytes written while the peer's handshake message was incomplete"))
        } else if first {
            // The rest of that message must be read even where the layer above holds its
            // reads (a pipelined request waiting, a body not wanted): asked for once here.
            context.read()
        }
    }

    /// After a read: the writes blocked on it, in order (any may block again).
    private func retryBlockedWrites(context: ChannelHandlerContext) {
        guard !blockedWrites.isEmpty, state == .active else { return }
        let writes = blockedWrites
        blockedWrites = []
        blockedBytes = 0
        for (plaintext, promise) in writes {
            encryptAndWrite(context: context, plaintext, promise: promise)
        }
        context.flush()
    }

    private func writePendingPlaintext(context: ChannelHandlerContext) {
        let writes = pendingWrites
        pendingWrites = []
        pendingWriteBytes = 0
        for (plaintext, promise) in writes {
            encryptAndWrite(context: context, plaintext, promise: promise)
        }
        if flushPending {
            flushPending = false
            context.flush()
        }
    }

    /// Writes and flushes what OpenSSL produced (handshake messages, alerts, close_notify).
    private func flushCiphertext(context: ChannelHandlerContext) {
        if writeCiphertext(context: context, promise: nil) {
            context.flush()
        }
    }

    /// Hands buffered ciphertext to the channel, counting it until the write completes.
    @discardableResult
    private func writeCiphertext(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) -> Bool {
        guard let ciphertext = connection?.bio.takeOutbound() else {
            promise?.succeed(())
            return false
        }
        // Handshake flights and alerts are a few KiB, produced only in answer to the peer's
        // bytes: they need no promise (two allocations) to be counted.
        if promise == nil, state != .active {
            context.write(wrapOutboundOut(ciphertext), promise: nil)
            return true
        }
        ciphertextGiven += ciphertext.readableBytes
        // A write is tracked (its completion awaited) when its caller waits for it, or when
        // what may be unsent passes an eighth of the cap; the others need no promise and no
        // callback (three allocations per response). The completion of a tracked write
        // confirms every byte before it, so the count stays within that eighth of the truth,
        // and a count over half the cap (reads held back) always has a tracked write pending
        // whose completion resumes them.
        if promise == nil, unwrittenCiphertext <= maxBufferedCiphertext / 8 {
            context.write(wrapOutboundOut(ciphertext), promise: nil)
            return true
        }
        let mark = ciphertextGiven
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenComplete { [self] result in
            ciphertextConfirmed = max(ciphertextConfirmed, mark)
            if readHeldBack, unwrittenCiphertext <= maxBufferedCiphertext / 2 {
                readHeldBack = false
                context.read()
            }
            promise?.completeWith(result)
        }
        context.write(wrapOutboundOut(ciphertext), promise: written)
        return true
    }

    // MARK: - Failure

    private func fail(context: ChannelHandlerContext, _ error: TLSError) {
        guard state != .closed || error.kind == .handshakeTruncated else { return }
        if error.kind == .bufferLimitExceeded, state != .closed { observer?.backpressure(.closed) }
        state = .closed
        cancelHandshakeTimer()
        flushCiphertext(context: context)  // a fatal alert, if OpenSSL queued one
        failPendingWrites(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    /// Ends the connection, then fails the write that ended it: that promise's callback may
    /// close the channel (the HTTP layer closes after its last write), and a close first would
    /// leave ``fail(context:_:)`` nothing to do (no error passed up, no count).
    private func failThenFailPromise(context: ChannelHandlerContext, _ error: TLSError, _ promise: EventLoopPromise<Void>?) {
        fail(context: context, error)
        promise?.fail(error)
    }

    private func failPendingWrites(_ error: TLSError) {
        let (blocked, writes) = (blockedWrites, pendingWrites)
        pendingWrites = []
        pendingWriteBytes = 0
        blockedWrites = []
        blockedBytes = 0
        for (_, promise) in blocked { promise?.fail(error) }
        for (_, promise) in writes { promise?.fail(error) }
    }

    private func reportHandshake(_ result: TLSHandshakeResult) {
        guard !handshakeReported else { return }
        handshakeReported = true
        let elapsed = NIODeadline.now() - handshakeStarted
        observer?.handshakeFinished(result: result, duration: .nanoseconds(elapsed.nanoseconds))
    }
}

/// The handshake deadline's target. A struct holding one reference fits in the existential's
/// inline storage, so scheduling it allocates nothing beyond NIO's own task entry.
private struct HandshakeDeadline: NIOScheduledCallbackHandler {
    let handler: TLSHandler

    func handleScheduledCallback(eventLoop: some EventLoop) {
        handler.handshakeDeadlinePassed()
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
