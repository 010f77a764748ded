import MCPCore
import NIOCore
import NIOHTTP1

/// Runs one HTTP/1.1 exchange on a fresh connection: writes the request when the channel
/// becomes active, collects the response up to a byte cap, and completes `promise` exactly
/// once (the first outcome wins; later ones are ignored).
///
/// The connection carries one request (`Connection: close`), so a response cannot be
/// confused with a late answer to an earlier request.
final class HTTPExchangeHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Never
    typealias OutboundOut = HTTPClientRequestPart

    private enum State {
        case waiting
        case receiving(HTTPResponseHead, ByteBuffer)
        case done
    }

    private let head: HTTPRequestHead
    private let body: [UInt8]?
    private let maxBytes: Int
    private let peer: String
    private let usesTLS: Bool
    private let promise: EventLoopPromise<BackendResponse>
    private var state = State.waiting

    init(head: HTTPRequestHead, body: [UInt8]?, maxBytes: Int, peer: String, usesTLS: Bool,
         promise: EventLoopPromise<BackendResponse>) {
        self.head = head
        self.body = body
        self.maxBytes = maxBytes
        self.peer = peer
        self.usesTLS = usesTLS
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body, !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let responseHead), .waiting):
            if let length = responseHead.headers.first(name: "content-length").flatMap(Int.init), length > maxBytes {
                return finish(context, .failure(Self.tooLarge(peer, maxBytes)))
            }
            state = .receiving(responseHead, context.channel.allocator.buffer(capacity: 0))
        case (.body(var chunk), .receiving(let responseHead, var buffer)):
            guard buffer.readableBytes + chunk.readableBytes <= maxBytes else {
                return finish(context, .failure(Self.tooLarge(peer, maxBytes)))
            }
            state = .done  // avoid a copy-on-write of the buffer
            buffer.writeBuffer(&chunk)
            state = .receiving(responseHead, buffer)
        case (.end, .receiving(let responseHead, let buffer)):
            let response = BackendResponse(
                status: Int(responseHead.status.code),
                reason: responseHead.status.reasonPhrase,
                headers: responseHead.headers.map { ($0.name, $0.value) },
                body: Array(buffer.readableBytesView)
            )
            finish(context, .success(response))
        case (_, .done):
            break
        default:
            finish(context, .failure(ToolError(.badResponse, "\(peer) sent an out-of-order HTTP response")))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let message: String = switch state {
        case .waiting: "\(peer) closed the connection without a response"
        case .receiving: "\(peer) closed the connection before the response was complete"
        case .done: ""
        }
        if !message.isEmpty {
            finish(context, .failure(ToolError(.unreachable, message)))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let toolError: ToolError = switch (error, state) {
        case (let e as ToolError, _): e
        case (is HTTPParserError, _): ToolError(.badResponse, "\(peer) sent a malformed HTTP response (\(error))")
        case (_, .waiting) where usesTLS: ToolError(.tls, "TLS with \(peer) failed: \(error)")
        default: ToolError(.unreachable, "connection to \(peer) failed: \(error)")
        }
        finish(context, .failure(toolError))
    }

    private func finish(_ context: ChannelHandlerContext, _ result: Result<BackendResponse, ToolError>) {
        if case .done = state { return }
        state = .done
        switch result {
        case .success(let response): promise.succeed(response)
        case .failure(let error): promise.fail(error)
        }
        context.close(promise: nil)
    }

    static func tooLarge(_ peer: String, _ max: Int) -> ToolError {
        ToolError(.tooLarge, "the response from \(peer) is larger than the \(max)-byte cap")
    }
}
