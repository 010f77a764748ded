import Foundation
import DequeModule
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Between NIOHTTP1's request decoder and HTTPTypes (what Hummingbird and
/// ``RequestDispatcher`` speak), both ways: each request head is checked
/// (``RequestHeadGuard``: Host, CONNECT; then its framing, against request smuggling) and
/// converted, and each response is encoded here straight to bytes. It also moves the
/// connection's ``RequestDeadlines`` along: the header deadline ends at a head, the idle one
/// starts when the last request read is answered. A header block over the caps is refused
/// 431 (RFC 6585 §5) rather than NIOHTTP1's bare parser error. A refused request goes up as a
/// ``RequestRefusal`` event, answered in its turn, and the rest of the input is dropped.
///
/// One handler for all of this: each handler is a hop for every part of every request and
/// response (a whole response is three parts), and they all look at the same parts.
///
/// Why not `HTTP1ToHTTPServerCodec`: it parses every request target with Foundation's
/// `URLComponents` and lowercases every field name to find `Host`, 2.5 % of a request's CPU
/// together, where nearly every target is already the path (origin-form, RFC 9112 §3.2.1);
/// and a head it cannot convert became an error that closed the connection at once, cutting
/// off a pipelined response still being written. Here it is a ``RequestRefusal`` (400),
/// answered in its turn.
///
/// Why not NIOHTTP1's response encoder: behind it, each response was converted to
/// `HTTPResponseHead` (a copy of every field), framed by removing and adding fields of that
/// copy, and written as three buffers (head, body, end) that the TLS handler copied into
/// one record: 5.5 % of a request's CPU. A response whose parts come without promises (a
/// whole response: head, body, then the end, which carries one) is encoded into one buffer,
/// sized from its `Content-Length`, and sent with its end.
final class HTTPTypesCodec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = ByteBuffer

    private let scheme: String
    /// Nil where the codec is tested alone.
    private let deadlines: RequestDeadlines?
    /// A request was refused: the rest of the input is dropped, and the connection closes
    /// after the refusal.
    private var refusing = false

    /// What the request a response answers allows in its body (RFC 9112 §6.3).
    enum Answering {
        case other
        /// A response to HEAD has the framing fields of the GET response and no body (RFC 9110 §9.3.2).
        case head
        /// A 2xx response to CONNECT would start a tunnel: no body and no framing fields (RFC 9110 §9.3.6).
        case connect
    }

    /// The requests read and not yet answered, in order (one per head read: a refused head
    /// is answered too). Non-empty when a response ends: with pipelining the next request is
    /// already read, and the connection is not idle.
    private var unanswered = Deque<Answering>()
    /// The response being written has a chunked body.
    private var chunked = false
    /// The response being written answers HEAD (or is a 2xx to CONNECT): body writes fail.
    private var bodyForbidden = false
    /// Bytes encoded and not yet passed down: parts written without a promise wait for the
    /// next part with one, or a flush, and go down with it as one buffer.
    private var pending: ByteBuffer?

    /// Bodies up to this size are copied next to their head or chunk framing (one record
    /// through TLS); larger ones go down as they are.
    static let coalesceLimit = 16 * 1024

    init(secure: Bool, deadlines: RequestDeadlines? = nil) {
        scheme = secure ? "https" : "http"
        self.deadlines = deadlines
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refusing { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            unanswered.append(head.method == .HEAD ? .head : head.method == .CONNECT ? .connect : .other)
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
            deadlines?.headReceived()
            if let problem = Self.framingProblem(request.headerFields) {
                refuse(RequestRefusal(.badRequest, message: "Bad Request: \(problem)"), context: context)
                return
            }
            context.fireChannelRead(wrapInboundOut(.head(request)))
        case .body(let body):
            context.fireChannelRead(wrapInboundOut(.body(body)))
        case .end(let trailers):
            context.fireChannelRead(wrapInboundOut(.end(trailers.map { HTTPFields($0, splitCookie: false) })))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError, parserError == .headerOverflow {
            // After a refusal nothing more is answered (the dispatcher counts what it writes).
            if !refusing { refuse(RequestRefusal(.requestHeaderFieldsTooLarge), context: context) }
            return
        }
        context.fireErrorCaught(error)
    }

    /// The dispatcher writes the refusal once the requests before it are answered; no
    /// deadline runs meanwhile (the connection closes after it).
    private func refuse(_ refusal: RequestRefusal, context: ChannelHandlerContext) {
        refusing = true
        deadlines?.cancel()
        context.fireUserInboundEventTriggered(refusal)
    }

    /// Request smuggling patterns (RFC 9112 §6.1, §6.3): a message framed both by
    /// Content-Length and Transfer-Encoding, conflicting lengths, or a transfer coding
    /// other than a lone `chunked` is refused and the connection closed, so no two parsers
    /// can disagree about where it ends.
    static func framingProblem(_ fields: HTTPFields) -> String? {
        // The common case, found in one pass with nothing allocated: one plain length or none.
        var lengthCount = 0
        var listedLength = false
        var coded = false
        for field in fields {
            if field.name == .contentLength {
                lengthCount += 1
                listedLength = listedLength || field.value.utf8.contains(UInt8(ascii: ","))
            } else if field.name == .transferEncoding {
                coded = true
            }
        }
        if !coded, lengthCount <= 1, !listedLength { return nil }
        let lengths = fields[values: .contentLength]
        let codings = fields[values: .transferEncoding]
        if !codings.isEmpty && !lengths.isEmpty { return "both Content-Length and Transfer-Encoding" }
        if Set(lengths).count > 1 || lengths.contains(where: { $0.contains(",") && Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }).count > 1 }) {
            return "conflicting Content-Length values"
        }
        if !codings.isEmpty && (codings.count != 1 || codings[0].trimmingCharacters(in: .whitespaces).lowercased() != "chunked") {
            return "unsupported Transfer-Encoding"
        }
        return nil
    }

    // MARK: responses

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let response):
            writeHead(response, context: context)
        case .body(let body):
            guard !bodyForbidden else {
                promise?.fail(NIOHTTPResponseEncoderError.responseBodyNotAllowed)
                return
            }
            writeBody(body, context: context)
        case .end(let trailers):
            // Not after a refusal: the connection closes once it, the last answer, is written.
            if unanswered.isEmpty, !refusing { deadlines?.responseEnded(context) }
            if chunked {
                var last = context.channel.allocator.buffer(capacity: 5)
                last.writeStaticString("0\r\n")
                if let trailers {
                    Self.write(trailers, to: &last)
                } else {
                    last.writeStaticString("\r\n")
                }
                append(last, context: context)
            }
            bodyForbidden = false
        }
        if let promise { send(context: context, promise: promise) }
    }

    func flush(context: ChannelHandlerContext) {
        send(context: context, promise: nil)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        send(context: context, promise: nil)
        context.close(mode: mode, promise: promise)
    }

    /// The status line and fields, framed as RFC 9112 §6 asks: no framing fields where there
    /// is no body (1xx, 204, 304, a 2xx to CONNECT); otherwise the `Content-Length` given, or
    /// chunked transfer coding.
    private func writeHead(_ response: HTTPResponse, context: ChannelHandlerContext) {
        let code = response.status.code
        // A non-final 1xx comes before the response to the same request.
        let answering = (100..<200).contains(code) && code != 101 ? .other : (unanswered.popFirst() ?? .other)
        // One pass finds the framing fields and sizes the buffer: "HTTP/1.1 200 OK\r\n",
        // each "name: value\r\n", "\r\n"; then room for a small body.
        var size = 32 + response.status.reasonPhrase.utf8.count
        var length: Int?
        var chunkedField = false
        for field in response.headerFields {
            size += field.name.rawName.utf8.count + field.value.utf8.count + 4
            if field.name == .contentLength {
                length = Int(field.value) ?? 0
            } else if field.name == .transferEncoding {
                chunkedField = true
            }
        }
        let tunnel = answering == .connect && (200..<300).contains(code)
        let noBody = (100..<200).contains(code) || code == 204 || code == 304 || tunnel
        var fields = response.headerFields
        if noBody {
            if length != nil || chunkedField {
                fields[.contentLength] = nil
                fields[.transferEncoding] = nil
            }
        } else if length != nil {
            if chunkedField { fields[.transferEncoding] = nil }
        } else {
            fields[.transferEncoding] = "chunked"
            size += 28
        }
        bodyForbidden = answering == .head || tunnel
        chunked = !noBody && length == nil && !bodyForbidden
        if !bodyForbidden, let length, length <= Self.coalesceLimit { size += length }
        var head = context.channel.allocator.buffer(capacity: size)
        head.writeStaticString("HTTP/1.1 ")
        // Three digits (HTTPResponse.Status keeps codes in 0...999).
        head.writeInteger(UInt8(ascii: "0") + UInt8(code / 100))
        head.writeInteger(UInt8(ascii: "0") + UInt8(code / 10 % 10))
        head.writeInteger(UInt8(ascii: "0") + UInt8(code % 10))
        head.writeStaticString(" ")
        head.writeString(response.status.reasonPhrase)
        head.writeStaticString("\r\n")
        Self.write(fields, to: &head)
        append(head, context: context)
    }

    private func writeBody(_ body: ByteBuffer, context: ChannelHandlerContext) {
        let count = body.readableBytes
        guard chunked, count > 0 else {
            // An empty chunk would end the body: nothing to write.
            if count > 0 { append(body, context: context) }
            return
        }
        let size = String(count, radix: 16)
        var prefix = context.channel.allocator.buffer(capacity: count <= Self.coalesceLimit ? size.utf8.count + count + 4 : 16)
        prefix.writeString(size)
        prefix.writeStaticString("\r\n")
        if count <= Self.coalesceLimit {
            prefix.writeImmutableBuffer(body)
            prefix.writeStaticString("\r\n")
            append(prefix, context: context)
        } else {
            append(prefix, context: context)
            append(body, context: context)
            append(ByteBuffer(staticString: "\r\n"), context: context)
        }
    }

    /// Adds encoded bytes to those waiting; a large buffer is not copied: what waits goes down first.
    private func append(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        guard pending != nil else {
            pending = bytes
            return
        }
        if bytes.readableBytes <= Self.coalesceLimit {
            pending!.writeImmutableBuffer(bytes)
        } else {
            context.write(wrapOutboundOut(pending!), promise: nil)
            pending = bytes
        }
    }

    /// Passes down what waits, with `promise`; with nothing waiting, an empty write carries the
    /// promise, so it completes after everything written before it.
    private func send(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        if let bytes = pending {
            pending = nil
            context.write(wrapOutboundOut(bytes), promise: promise)
        } else if let promise {
            context.write(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        }
    }

    /// Field lines and the empty line after them. `HTTPField` has already replaced any CR, LF
    /// or NUL in a value, so a value cannot split a line.
    ///
    /// Copied into the buffer's memory in one write: four `ByteBuffer` writes per field, each
    /// checking capacity and exclusive access, were 1 % of a `tools/call`'s CPU.
    static func write(_ fields: HTTPFields, to buffer: inout ByteBuffer) {
        var size = 2
        for field in fields { size += field.name.rawName.utf8.count + field.value.utf8.count + 4 }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var at = 0
            func put(_ text: String) {
                let copied = text.utf8.withContiguousStorageIfAvailable { bytes in
                    UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + bytes.count)]).copyMemory(from: UnsafeRawBufferPointer(bytes))
                }
                if copied == nil {
                    for byte in text.utf8 { out[at] = byte; at += 1 }
                } else {
                    at += text.utf8.count
                }
            }
            func put(_ a: UInt8, _ b: UInt8) {
                out[at] = a
                out[at + 1] = b
                at += 2
            }
            for field in fields {
                put(field.name.rawName)
                put(UInt8(ascii: ":"), UInt8(ascii: " "))
                put(field.value)
                put(UInt8(ascii: "\r"), UInt8(ascii: "\n"))
            }
            put(UInt8(ascii: "\r"), UInt8(ascii: "\n"))
            return at
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
            guard let name = fieldName(name) else { continue }
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

    /// The name of a request field. Those MCP clients send on every request are made once:
    /// `HTTPField.Name(_:)` checks every character and lowercases a copy of the name (0.5 %
    /// of a `tools/call`'s CPU). A known name keeps its canonical spelling, not the client's
    /// (names compare case-insensitively either way, RFC 9110 §5.1).
    static func fieldName(_ name: String) -> HTTPField.Name? {
        func known(_ spelling: StaticString, _ field: HTTPField.Name) -> HTTPField.Name? {
            name.hasPrefixIgnoringASCIICase(spelling) ? field : nil
        }
        let known: HTTPField.Name? = switch name.utf8.count {
        case 6: known("accept", .accept)
        case 8: known("mcp-name", .mcpName)
        case 10: known("mcp-method", .mcpMethod) ?? known("user-agent", .userAgent)
        case 12: known("content-type", .contentType)
        case 13: known("authorization", .authorization)
        case 14: known("content-length", .contentLength) ?? known("mcp-session-id", .mcpSessionID)
        case 20: known("mcp-protocol-version", .mcpProtocolVersion)
        default: nil
        }
        return known ?? HTTPField.Name(name)
    }

    /// `Host` in any case, without lowercasing a copy of every name to find it.
    static func isHost(_ name: String) -> Bool {
        name.utf8.equalsIgnoringASCIICase("host")
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// The HTTP/1.1 layer of a public connection: NIOHTTP1's request decoder with `limits`,
    /// and the codec above it, which also encodes the responses.
    func addHTTPServerCodec(limits: NIOHTTPDecoderLimitConfiguration = .init(), deadlines: RequestDeadlines? = nil) throws {
        try addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits)))
        try addHandler(HTTPTypesCodec(secure: false, deadlines: deadlines))
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

extension String {
    /// Whether this starts with `lowercase` in any ASCII case (letters folded, every other
    /// byte exact), without allocating a lowercased copy.
    func hasPrefixIgnoringASCIICase(_ lowercase: StaticString) -> Bool {
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        var bytes = utf8.makeIterator()
        for wanted in expected {
            guard let byte = bytes.next() else { return false }
            let isLetter = wanted >= UInt8(ascii: "a") && wanted <= UInt8(ascii: "z")
            guard byte == wanted || (isLetter && byte | 0x20 == wanted) else { return false }
        }
        return true
    }
}
