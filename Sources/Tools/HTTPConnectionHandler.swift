#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MCPCore
import NIOCore
import NIOHTTP1
import TLS

/// Runs HTTP/1.1 exchanges one at a time on one connection, so the connection can be kept
/// alive and reused (``ConnectionPool``). Each exchange collects the response up to a byte
/// cap and completes its promise exactly once.
///
/// A connection that closes before any byte of the response arrived fails the exchange
/// with ``ConnectionClosedBeforeResponse``: on a reused connection that is the keep-alive
/// race (the server closed it while idle), and the client retries on a fresh connection.
final class HTTPConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Never
    typealias OutboundOut = HTTPClientRequestPart

    struct Exchange {
        var promise: EventLoopPromise<ExchangeResult>
        var maxBytes: Int
        var peer: String
        var usesTLS: Bool
    }

    private enum State {
        case idle
        case waiting(Exchange)
        case receiving(Exchange, HTTPResponseHead, ByteBuffer)
        /// The response was refused (too large); the rest of it is ignored until close.
        case discarding
        case closed
    }

    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// The request of the exchange in progress has been written whole. A backend may answer
    /// before reading all of it (a 401 to a large upload): pooled then, the connection would
    /// carry the rest of that body ahead of the next request, which the backend would read as
    /// a request of its own.
    private var requestWritten = false
    /// An error seen while no exchange was running (a TLS handshake failing before the
    /// first request was handed over): the next exchange reports it.
    private var idleError: (any Error)?

    /// Below the decoder: the bytes of each response, framing included, within a budget.
    private let wire: ResponseWireBudget?

    init(wire: ResponseWireBudget? = nil) {
        self.wire = wire
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Sends a request. Must be called on the channel's event loop, when idle.
    func start(head: HTTPRequestHead, body: [UInt8]?, exchange: Exchange) {
        if let idleError {
            exchange.promise.fail(Self.classify(idleError, exchange, beforeResponse: true))
            return
        }
        guard case .idle = state, let context, context.channel.isActive else {
            exchange.promise.fail(ConnectionClosedBeforeResponse())
            return
        }
        state = .waiting(exchange)
        wire?.start(budget: ResponseWireBudget.budget(forBody: exchange.maxBytes))
        // NIO refuses to send a request line or header it finds invalid, with the error its
        // response parser also uses: ours, said as ours, not "a malformed response".
        let headWritten = context.eventLoop.makePromise(of: Void.self)
        headWritten.futureResult.assumeIsolated().whenFailure { error in
            guard error is HTTPParserError, case .waiting(let exchange) = self.state, let context = self.context else { return }
            self.fail(context, exchange, ToolError(.internalError,
                "the request to \(exchange.peer) was not sent: its path or a header (the configured URL or token) holds characters HTTP does not allow"))
        }
        context.write(wrapOutboundOut(.head(head)), promise: headWritten)
        if let body, !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        requestWritten = false
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenSuccess { self.requestWritten = true }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .waiting(let exchange)):
            // A 101 ends HTTP on the connection (RFC 9110 §15.2.2): we asked for no upgrade, and
            // the decoder reads nothing after it, so waiting for a final answer ran into the deadline.
            if head.status.code == 101 {
                return fail(context, exchange, ToolError(.badResponse, "\(exchange.peer) switched protocols (101), which was not asked for"))
            }
            if head.status.code / 100 == 1 { return }  // 1xx interim response: wait for the real one
            // A 204 or 304 has no body whatever its Content-Length says (a 304 may state the
            // length of the resource it did not send, RFC 9110 §8.6).
            if head.status != .noContent, head.status != .notModified,
               let length = head.headers.first(name: "content-length").flatMap(Int.init), length > exchange.maxBytes {
                return fail(context, exchange, Self.tooLarge(exchange))
            }
            state = .receiving(exchange, head, context.channel.allocator.buffer(capacity: 0))
        case (.body(var chunk), .receiving(let exchange, let head, var buffer)):
            guard buffer.readableBytes + chunk.readableBytes <= exchange.maxBytes else {
                return fail(context, exchange, Self.tooLarge(exchange))
            }
            state = .discarding  // drop our reference so the append does not copy
            buffer.writeBuffer(&chunk)
            state = .receiving(exchange, head, buffer)
        case (.end, .receiving(let exchange, let head, let buffer)):
            let response = BackendResponse(
                status: Int(head.status.code), reason: head.status.reasonPhrase,
                headers: head.headers.map { ($0.name, $0.value) }, body: Array(buffer.readableBytesView))
            state = .idle
            exchange.promise.succeed(ExchangeResult(response: response, keepAlive: head.isKeepAlive && requestWritten))
        case (_, .discarding), (_, .closed):
            break
        case (_, .idle):
            // Bytes nobody asked for: the connection is out of step; do not reuse it.
            state = .closed
            context.close(promise: nil)
        case (_, .waiting(let exchange)), (_, .receiving(let exchange, _, _)):
            fail(context, exchange, ToolError(.badResponse, "\(exchange.peer) sent an out-of-order HTTP response"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .waiting(let exchange):
            exchange.promise.fail(ConnectionClosedBeforeResponse())
        case .receiving(let exchange, _, _):
            exchange.promise.fail(ToolError(.unreachable, "\(exchange.peer) closed the connection before the response was complete"))
        case .idle, .discarding, .closed:
            break
        }
        state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .waiting(let exchange) where Self.isPeerClose(error):
            // A peer that closes a kept-alive connection as our request arrives may reset it
            // rather than send FIN, or, over TLS, send FIN without close_notify (as many
            // servers' idle timeouts do): the same race as a close without an answer, handled
            // alike (a GET is sent again on a fresh connection). The handshake was over: not
            // a TLS failure.
            state = .discarding
            exchange.promise.fail(ConnectionClosedBeforeResponse())
            context.close(promise: nil)
        case .waiting(let exchange):
            fail(context, exchange, Self.classify(error, exchange, beforeResponse: true))
        case .receiving(let exchange, _, _):
            fail(context, exchange, Self.classify(error, exchange, beforeResponse: false))
        case .idle:
            // The server closing an idle connection (a reset, TLS without close_notify) is no
            // error of the next exchange: it meets a closed connection, and a GET is retried.
            if !Self.isPeerClose(error) { idleError = idleError ?? error }
            state = .closed
            context.close(promise: nil)
        case .discarding, .closed:
            state = .closed
            context.close(promise: nil)
        }
    }

    /// The peer ended the connection: a reset, a broken pipe, or over TLS a FIN without
    /// close_notify.
    static func isPeerClose(_ error: any Error) -> Bool {
        if let error = error as? TLSError { return error.kind == .uncleanShutdown }
        guard let error = error as? IOError else { return false }
        return error.errnoCode == ECONNRESET || error.errnoCode == EPIPE
    }

    /// A pipeline error as a ToolError: an error before any response byte on an https
    /// connection comes from the TLS layer (handshake, certificate, host name).
    static func classify(_ error: any Error, _ exchange: Exchange, beforeResponse: Bool) -> ToolError {
        switch error {
        case let e as ToolError: e
        case is ResponseWireBudget.Exceeded:
            ToolError(.tooLarge, "\(exchange.peer) sent more than \(ResponseWireBudget.budget(forBody: exchange.maxBytes)) bytes for one response, head and framing included")
        // NIO's decoder reports the end of input in the middle of a response (a body shorter
        // than its Content-Length, a chunked one without its last chunk) as a parse error,
        // before the close: a lost connection, not a malformed answer (a search skips a
        // malformed page, but stops at a backend that drops connections).
        case HTTPParserError.invalidEOFState:
            ToolError(.unreachable, "\(exchange.peer) closed the connection before the response was complete")
        case is HTTPParserError: ToolError(.badResponse, "\(exchange.peer) sent a malformed HTTP response (\(error))")
        case _ where beforeResponse && exchange.usesTLS: ToolError(.tls, "TLS with \(exchange.peer) failed: \(error)")
        default: ToolError(.unreachable, "connection to \(exchange.peer) failed: \(error)")
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ exchange: Exchange, _ error: ToolError) {
        state = .discarding
        exchange.promise.fail(error)
        context.close(promise: nil)
    }

    static func tooLarge(_ exchange: Exchange) -> ToolError {
        ToolError(.tooLarge, "the response from \(exchange.peer) is larger than the \(exchange.maxBytes)-byte cap")
    }
}

struct ExchangeResult: Sendable {
    var response: BackendResponse
    var keepAlive: Bool
}

/// The connection closed before any byte of the response: retryable on a fresh connection
/// when the request was sent on a reused one.
struct ConnectionClosedBeforeResponse: Error {}
