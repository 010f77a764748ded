#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import TLS

// floor PORT CERT KEY raw|http|tcp BODY-BYTES
//
// What the request path costs below our HTTP layer, for bench/http/floor.sh (and a new
// connection's, for bench/tls/floor.sh). One event loop, our TLS handler (the server's
// context settings; none in tcp mode), and then either
//   raw:  a handler that answers every read with one static response (no HTTP parsing: wrk
//         sends one request per read), or
//   http: NIOHTTP1's decoder and encoder (as the server configures them) and a handler that
//         answers each request's end with a static head and body, or
//   tcp:  raw without TLS: what NIO's own connection life cycle costs.
let arguments = CommandLine.arguments
guard arguments.count == 6, let port = Int(arguments[1]), let size = Int(arguments[5]), ["raw", "http", "tcp"].contains(arguments[4]) else {
    print("usage: floor PORT CERT KEY raw|http|tcp BODY-BYTES")
    exit(2)
}
let context = try TLSContext.server(TLSServerSettings(certificateChainFile: arguments[2], privateKeyFile: arguments[3]))
let body = String(repeating: "x", count: size)
let date = "Tue, 01 Dec 2026 00:00:00 GMT"

/// Answers each read with the whole response, head and body in one buffer.
final class RawAnswer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let response: String

    init(body: String, date: String) {
        response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nDate: \(date)\r\n\r\n" + body
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response)), promise: nil)
    }
}

/// Answers each request, once it has ended, through NIOHTTP1's encoder.
final class HTTPAnswer: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let body: String
    let date: String

    init(body: String, date: String) {
        self.body = body
        self.date = date
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let headers: HTTPHeaders = ["Content-Type": "application/json", "Content-Length": String(body.utf8.count), "Date": date]
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

let raw = arguments[4] != "http"
let tls = arguments[4] != "tcp"
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            if tls { try pipeline.addHandler(TLSHandler(context: context, role: .server)) }
            if raw {
                try pipeline.addHandler(RawAnswer(body: body, date: date))
            } else {
                try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
                try pipeline.addHandler(HTTPAnswer(body: body, date: date))
            }
        }
    }
    .bind(host: "127.0.0.1", port: port).wait()
print("listening on 127.0.0.1:\(port)")
try server.closeFuture.wait()
