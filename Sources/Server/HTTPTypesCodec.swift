import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Between NIOHTTP1's parts and HTTPTypes' (what Hummingbird and ``RequestDispatcher``
/// speak): the request head is checked (``RequestHeadGuard``: Host, CONNECT) and converted
/// here, the rest with swift-nio-extras' public conversions. A refused head goes up as a
/// ``RequestRefusal`` and the rest of the input is dropped.
///
/// Why not `HTTP1ToHTTPServerCodec`: it parses every request target with Foundation's
/// `URLComponents` and lowercases every field name to find `Host`, 2.5 % of a request's CPU
/// together, where nearly every target is already the path (origin-form, RFC 9112 §3.2.1);
/// and a head it cannot convert became an error that closed the connection at once, cutting
/// off a pipelined response still being written. Here it is a ``RequestRefusal`` (400),
/// answered in its turn.
final class HTTPTypesCodec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let scheme: String
    /// A head was refused: the rest of the input is dropped.
    private var refusing = false

    init(secure: Bool) {
        scheme = secure ? "https" : "http"
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refusing { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let refusal = RequestHeadGuard.refusal(head) {
                refusing = true
                context.fireUserInboundEventTriggered(refusal)
                return
            }
            guard let request = Self.request(from: head, scheme: scheme) else {
                refusing = true
                context.fireUserInboundEventTriggered(RequestRefusal(.badRequest, message: "Bad Request: invalid method"))
                return
            }
            context.fireChannelRead(wrapInboundOut(.head(request)))
        case .body(let body):
            context.fireChannelRead(wrapInboundOut(.body(body)))
        case .end(let trailers):
            context.fireChannelRead(wrapInboundOut(.end(trailers.map { HTTPFields($0, splitCookie: false) })))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let response):
            context.write(wrapOutboundOut(.head(HTTPResponseHead(response))), promise: promise)
        case .body(let body):
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: promise)
        case .end(let trailers):
            context.write(wrapOutboundOut(.end(trailers.map { HTTPHeaders($0) })), promise: promise)
        }
    }

    /// The request of a head: the first `Host` becomes the authority (and leaves the fields,
    /// as HTTP/2's `:authority` would), fields with names that are not tokens are dropped,
    /// values are legalized by `HTTPField`. Nil when the method is not a token.
    static func request(from head: HTTPRequestHead, scheme: String) -> HTTPRequest? {
        guard let method = HTTPRequest.Method(head.method.rawValue) else { return nil }
        var authority: String?
        var fields = HTTPFields()
        fields.reserveCapacity(head.headers.count)
        for (name, value) in head.headers {
            if authority == nil, isHost(name) {
                authority = value
                continue
            }
            guard let name = HTTPField.Name(name) else { continue }
            fields.append(HTTPField(name: name, value: value))
        }
        return HTTPRequest(method: method, scheme: scheme, authority: authority, path: path(of: head.uri), headerFields: fields)
    }

    /// The path (with query) of a request target (RFC 9112 §3.2): origin-form is the path
    /// already; absolute-form gives what follows its authority ("/" if nothing does);
    /// asterisk-form and authority-form are kept as they are.
    static func path(of target: String) -> String {
        if target.utf8.first == UInt8(ascii: "/") { return target }
        // absolute-form: scheme "://" authority [ path ] [ "?" query ]
        let bytes = Array(target.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), bytes[colon...].starts(with: "://".utf8) else { return target }
        let afterAuthority = bytes[(colon + 3)...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }
        guard let start = afterAuthority else { return "/" }
        let tail = String(decoding: bytes[start...], as: UTF8.self)
        return bytes[start] == UInt8(ascii: "?") ? "/" + tail : tail
    }

    /// `Host` in any case, without lowercasing a copy of every name to find it.
    static func isHost(_ name: String) -> Bool {
        name.utf8.equalsIgnoringASCIICase("host")
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
