import NIOCore

/// Bounds the bytes a backend may send for one response, framing included, below the HTTP
/// decoder. The decoder checks the body against the cap (``HTTPConnectionHandler``), but what
/// it parses and drops makes no body: interim `100 Continue` heads without end, chunk
/// extensions, a reason phrase, zeros before a chunk size. Each of those kept an event loop
/// parsing until the request's deadline (30 s by default); past this budget the response is
/// refused as too large instead.
final class ResponseWireBudget: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    struct Exceeded: Error {}

    /// Room for the head and the framing of a body of up to `maxBytes` (NIO's decoder allows
    /// a head of 80 KB; a body sent in chunks of a few hundred bytes or more frames under 2x).
    static func budget(forBody maxBytes: Int) -> Int { maxBytes.multipliedReportingOverflow(by: 2).partialValue + 128 * 1024 }

    /// Bytes still allowed for the response in progress; nil between exchanges.
    private var remaining: Int?

    /// A request was sent: its response may take `budget` bytes.
    func start(budget: Int) { remaining = budget }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let left = remaining {
            let now = left - unwrapInboundIn(data).readableBytes
            if now < 0 {
                remaining = nil
                context.fireErrorCaught(Exceeded())
                return
            }
            remaining = now
        }
        context.fireChannelRead(data)
    }
}
