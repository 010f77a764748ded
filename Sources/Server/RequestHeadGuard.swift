import NIOCore
import NIOHTTP1

/// Checks each request head as NIOHTTP1 decoded it, before it becomes an `HTTPRequest`
/// (which keeps one `authority` and would hide a second Host line):
/// - RFC 9112 §3.2: an HTTP/1.1 request without Host, with two Host lines, or with an
///   invalid Host value is answered 400;
/// - RFC 9110 §9.3.6: CONNECT asks a proxy for a tunnel, and this server is none: 405.
/// The connection is closed after the answer, so nothing after the refused head is read as
/// a request.
final class RequestHeadGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var refusing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refusing { return }
        if case .head(let head) = unwrapInboundIn(data), let (status, reason) = Self.problem(head) {
            refusing = true
            let body = #"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"\#(reason)"}}"#
            var headers = HTTPHeaders([("Connection", "close"), ("Content-Type", "application/json"), ("Content-Length", String(body.utf8.count))])
            if status == .methodNotAllowed { headers.add(name: "Allow", value: "GET, POST, DELETE") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.fireChannelRead(data)
    }

    static func problem(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String)? {
        if head.method == .CONNECT { return (.methodNotAllowed, "Method Not Allowed: this server is not a proxy") }
        let hosts = head.headers["Host"]
        if head.version.major == 1, head.version.minor >= 1, hosts.isEmpty { return (.badRequest, "Bad Request: Host header is required") }
        if hosts.count > 1 { return (.badRequest, "Bad Request: more than one Host header") }
        if let host = hosts.first, !isValidHost(host) { return (.badRequest, "Bad Request: invalid Host header") }
        return nil
    }

    /// `uri-host [ ":" port ]` (RFC 9110 §7.2): a reg-name, IPv4 or bracketed IPv6 literal.
    static func isValidHost(_ value: String) -> Bool {
        guard !value.isEmpty, value.utf8.count <= 255 else { return false }
        var host = Substring(value)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let literal = host[host.index(after: host.startIndex)..<close]
            guard !literal.isEmpty, literal.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
            host = host[host.index(after: close)...]
            return host.isEmpty || (host.hasPrefix(":") && host.dropFirst().allSatisfy(\.isASCII) && host.dropFirst().allSatisfy(\.isNumber))
        }
        if let colon = host.lastIndex(of: ":") {
            let port = host[host.index(after: colon)...]
            guard port.allSatisfy({ $0.isASCII && $0.isNumber }), port.count <= 5 else { return false }
            host = host[..<colon]
        }
        let allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%"
        return !host.isEmpty && host.allSatisfy { allowed.contains($0) }
    }
}
