import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TLS

/// A loopback HTTP/1.1 server standing in for Grafana, Portainer, SilverBullet and Vikunja:
/// it records every request (method, path, query, headers, body) and answers with whatever
/// the test's router says, including hostile answers (a hang, raw non-HTTP bytes, an
/// oversized body).
final class FakeBackend: Sendable {
    struct Request: Sendable {
        var method: String
        var path: String
        var query: String
        var headers: [(String, String)]
        var body: [UInt8]
        /// The client's port: requests with the same value came on the same connection.
        var connection: Int = 0

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    enum Reply: Sendable {
        case respond(Int, [(String, String)], [UInt8])
        /// Never answer (the client must time out).
        case hang
        /// Write these bytes and close.
        case raw([UInt8])
        /// Headers at once, then the body one byte per interval (a slow backend).
        case trickle([UInt8], every: TimeAmount)
        /// An empty answer with this status, after a while (a backend that answers once an
        /// action is done).
        case after(TimeAmount, status: Int)
        /// Close with a reset (SO_LINGER 0), answering nothing.
        case reset
        /// Over TLS: close TCP without close_notify (FIN only), answering nothing.
        case closeWithoutNotify

        static func json(_ text: String, status: Int = 200) -> Reply {
            .respond(status, [("Content-Type", "application/json")], Array(text.utf8))
        }
        static func text(_ text: String, status: Int = 200) -> Reply {
            .respond(status, [("Content-Type", "text/plain")], Array(text.utf8))
        }
    }

    typealias Router = @Sendable (Request) -> Reply

    /// What the fake does with the connection after an answer.
    enum ConnectionMode: Sendable {
        /// `Connection: close`, then close.
        case close
        /// Keep it open for the next request.
        case keepAlive
        /// Say nothing (HTTP/1.1 default: keep-alive) but close anyway: the race a pooled
        /// client must survive.
        case closeWithoutTelling
    }

    let port: Int
    private let channel: any Channel
    private let log = Mutex<[Request]>([])

    var url: String { "http://127.0.0.1:\(port)" }
    var requests: [Request] { log.withLock { $0 } }
    var last: Request? { requests.last }

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress!.port!
    }

    static func start(mode: ConnectionMode = .close, tls: TLSContext? = nil, _ router: @escaping Router) async throws -> FakeBackend {
        let box = RecorderBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(TLSHandler(context: tls, role: .server)) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
                    try channel.pipeline.syncOperations.addHandler(FakeHandler(mode: mode, router: router, record: { box.record($0) }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let backend = FakeBackend(channel: channel)
        box.backend.withLock { $0 = backend }
        return backend
    }

    func record(_ request: Request) { log.withLock { $0.append(request) } }

    func stop() async {
        try? await channel.close()
    }
}

/// Lets the child handlers record into the backend created after the bind.
private final class RecorderBox: Sendable {
    let backend = Mutex<FakeBackend?>(nil)
    func record(_ request: FakeBackend.Request) { backend.withLock { $0 }?.record(request) }
}

private final class FakeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    let mode: FakeBackend.ConnectionMode
    let router: FakeBackend.Router
    let record: @Sendable (FakeBackend.Request) -> Void
    var request: FakeBackend.Request?

    init(mode: FakeBackend.ConnectionMode, router: @escaping FakeBackend.Router, record: @escaping @Sendable (FakeBackend.Request) -> Void) {
        self.mode = mode
        self.router = router
        self.record = record
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            request = .init(
                method: head.method.rawValue, path: String(parts[0]), query: parts.count > 1 ? String(parts[1]) : "",
                headers: head.headers.map { ($0.name, $0.value) }, body: [],
                connection: context.channel.remoteAddress?.port ?? 0)
        case .body(let buffer):
            request?.body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let request else { return }
            record(request)
            let channel = context.channel
            switch router(request) {
            case .hang:
                break
            case .after(let delay, let status):
                channel.eventLoop.scheduleTask(in: delay) {
                    channel.writeAndFlush(channel.allocator.buffer(string: "HTTP/1.1 \(status) Done\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
                        .whenComplete { _ in channel.close(promise: nil) }
                }
            case .trickle(let body, let interval):
                let head = "HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\n\r\n"
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: head)), promise: nil)
                for (i, byte) in body.prefix(200).enumerated() {
                    channel.eventLoop.scheduleTask(in: interval * Int64(i + 1)) {
                        channel.writeAndFlush(channel.allocator.buffer(bytes: [byte]), promise: nil)
                    }
                }
            case .closeWithoutNotify:
                // Closed from under the TLS handler, which would send close_notify first.
                if let tls = try? channel.pipeline.syncOperations.context(handlerType: TLSHandler.self) {
                    tls.close(promise: nil)
                } else {
                    channel.close(promise: nil)
                }
            case .reset:
                guard let socket = channel as? any SocketOptionProvider else { channel.close(promise: nil); break }
                socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            case .raw(let bytes):
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)))
                    .whenComplete { _ in channel.close(promise: nil) }
            case .respond(let status, let headers, let body):
                var text = "HTTP/1.1 \(status) \(HTTPResponseStatus(statusCode: status).reasonPhrase)\r\n"
                for (name, value) in headers { text += "\(name): \(value)\r\n" }
                text += "Content-Length: \(body.count)\r\n"
                if mode == .close { text += "Connection: close\r\n" }
                text += "\r\n"
                var buffer = context.channel.allocator.buffer(string: text)
                buffer.writeBytes(body)
                let write = context.writeAndFlush(wrapOutboundOut(buffer))
                if mode != .keepAlive { write.whenComplete { _ in channel.close(promise: nil) } }
                self.request = nil
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
