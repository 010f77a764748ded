import Foundation
import Prometheus
import HTTPTypes
import Hummingbird
import MCPCore
import NIOCore
import NIOHTTPTypes

/// Response builders shared by every route, so each status has one shape.
enum HTTPReplies {
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        let body = value.withSerialized { ByteBuffer(bytes: $0) }
        // `Content-Length` is set here, so `Response.init` finds it: when it sets the length
        // itself, it mutates a second reference to these fields, which copies them (an
        // allocation, and the copy loses the room reserved below).
        let length = String(body.readableBytes)
        var fields: HTTPFields
        if headers.isEmpty {
            // The usual answer. Its fields are allocated once, with room for what the gate and
            // the runner append (RateLimit-Policy, RateLimit, Date), where growing them one
            // field at a time reallocated them three times; the two fixed fields are made once.
            fields = HTTPFields()
            fields.reserveCapacity(6)
            fields.append(jsonContentType)
            fields.append(noStore)
            fields.append(HTTPField(name: .contentLength, value: length))
        } else {
            fields = headers
            fields[.contentType] = "application/json"
            fields[.cacheControl] = "no-store"
            fields[.contentLength] = length
        }
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: body))
    }

    /// A JSON-RPC answer whose error names an HTTP status (a call refused at a cap) is
    /// sent with that status and Retry-After; everything else is 200.
    static func rpcAnswer(_ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        if let data = value["error"]?["data"], let status = data["httpStatus"]?.intValue {
            var fields = headers
            if let retry = data["retryAfter"]?.intValue { fields[.retryAfter] = String(retry) }
            return json(value, status: HTTPResponse.Status(code: Int(status)), headers: fields)
        }
        return json(value, headers: headers)
    }

    private static let jsonContentType = HTTPField(name: .contentType, value: "application/json")
    private static let noStore = HTTPField(name: .cacheControl, value: "no-store")

    static func rpcError(_ status: HTTPResponse.Status, _ code: JSONRPCErrorCode, _ message: String, id: JSONRPCID? = nil, data: JSONValue? = nil, headers: HTTPFields = [:]) -> Response {
        json(JSONRPCError(id: id, code: code, message: message, data: data).response, status: status, headers: headers)
    }

    /// A refusal by access control or a limit: `status`, and a JSON-RPC error whose code
    /// depends on the request's era (``JSONRPCErrorCode/refusal(status:statelessEra:)``).
    static func refusal(_ status: HTTPResponse.Status, _ message: String, statelessEra: Bool, id: JSONRPCID? = nil,
                        data: JSONValue? = nil, headers: HTTPFields = [:]) -> Response {
        let code = JSONRPCErrorCode.refusal(status: Int(status.code), statelessEra: statelessEra)
        return json(JSONRPCError(id: id, code: code, message: message, data: data).response, status: status, headers: headers)
    }

    static func empty(_ status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        Response(status: status, headers: headers)
    }

    /// For a call cancelled because its client went (the connection closed, or the client's
    /// input ended: ``ConnectionWatch/inputEnded()``): nginx's 499 "Client Closed Request",
    /// which is never sent. ``RequestRunner`` writes nothing for it, and the connection closes
    /// once what it still has to send (an answer before this one) is out; so a client that only
    /// half-closed sees its request abandoned, not a 202 with no body as if it had sent a
    /// notification.
    static let clientClosedRequest = HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request")

    static func clientGone() -> Response {
        Response(status: clientClosedRequest)
    }

    /// The headers of every event stream: no caching, no proxy buffering
    /// (2026-07-28 basic/transports/streamable-http.mdx asks for `X-Accel-Buffering: no`).
    static var sseHeaders: HTTPFields {
        [.contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"]
    }
}

extension HTTPReplies {
    /// A read-only token calling a tool that writes: 403 with the RFC 6750 §3.1
    /// `insufficient_scope` challenge, checked before the call is dispatched.
    /// Reads the frame's messages only for a read-only token (making the list of a single
    /// message is an allocation every other request would pay for nothing).
    static func scopeRefusal(_ frame: JSONRPCFrame, principal: MCPSession.Principal?, registry: ToolRegistry,
                             statelessEra: @autoclosure () -> Bool) -> Response? {
        guard let principal, !principal.allowsWrites else { return nil }
        for case .request(let request) in frame.messages where request.method == "tools/call" {
            if let name = request.params["name"]?.stringValue, let tool = registry.tool(named: name), tool.writes {
                return refusal(.forbidden, "Insufficient scope: \(name) writes and this token is read-only",
                               statelessEra: statelessEra(), id: request.id,
                                headers: [.wwwAuthenticate: #"Bearer realm="mcp", error="insufficient_scope", scope="write""#])
            }
        }
        return nil
    }
}

/// Reads a POST body into a JSON-RPC frame, answering every way it can fail: 413 over the
/// body cap, 400 for an unreadable body, a parse error (-32700) or an oversized batch, and
/// 403 when a read-only token calls a tool that writes. Shared by every transport.
struct FrameReader: Sendable {
    let dispatcher: MCPDispatcher
    let options: ServerOptions
    let metrics: ServerMetrics?
    /// `limits.max_buffered_body_bytes`: counts a body that did not come with its head.
    let bodies: SharedByteBudget?

    /// Inlined so that a body already in hand (nearly every MCP POST) is parsed without an
    /// async call at all: no frame, no executor check, no trip through the body's sequence.
    @inline(__always)
    func read(_ request: Request, context: MCPRequestContext) async -> Result<JSONRPCFrame, HTTPRefusal> {
        if let whole = context.completeBody {
            guard whole.readableBytes <= options.maxBody else {
                dispatcher.refused(at: .body)
                return .failure(tooLarge)
            }
            return frame(of: whole, context: context, request: request)
        }
        return await readArriving(request, context: context)
    }

    private func readArriving(_ request: Request, context: MCPRequestContext) async -> Result<JSONRPCFrame, HTTPRefusal> {
        let body: ByteBuffer
        do {
            body = try await request.collectBody(limit: options.maxBody, timeout: options.bodyTimeout, minRate: options.bodyMinRate, context: context,
                                                 metrics: metrics, budget: bodies)
        } catch .tooLarge {
            dispatcher.refused(at: .body)
            return .failure(tooLarge)
        } catch .refused(let status, let reason) {
            // The body's framing (a malformed chunk, trailers over the header caps), said as
            // the codec said it: not a JSON parse error. The connection closes after it (the
            // dispatcher refused the rest of the input).
            return .failure(HTTPRefusal(HTTPReplies.rpcError(status, .invalidRequest, reason ?? "\(status.reasonPhrase): the body could not be read",
                                                             headers: [.connection: "close"])))
        } catch {
            return .failure(HTTPRefusal(HTTPReplies.rpcError(.badRequest, .parseError, "Parse error: the body could not be read")))
        }
        return frame(of: body, context: context, request: request)
    }

    /// Connection: close, so the rest of the oversized body is not drained (RFC 9110
    /// §15.5.14 allows closing).
    private var tooLarge: HTTPRefusal {
        HTTPRefusal(HTTPReplies.rpcError(.contentTooLarge, .invalidRequest, "Request body larger than \(options.maxBody) bytes",
                                         headers: [.connection: "close"]))
    }

    private func frame(of body: ByteBuffer, context: MCPRequestContext, request: Request) -> Result<JSONRPCFrame, HTTPRefusal> {
        let frame = JSONRPCFrame.parse(body.readableBytesView, limits: dispatcher.configuration.jsonLimits)
        if case .parseError(let error) = frame {
            dispatcher.refused(error)
            return .failure(HTTPRefusal(HTTPReplies.json(error.response, status: .badRequest)))
        }
        let maxBatch = dispatcher.configuration.maxBatch
        if case .batch(let messages) = frame, messages.count > maxBatch {
            dispatcher.refused(at: .batch)
            return .failure(HTTPRefusal(HTTPReplies.rpcError(.badRequest, .invalidRequest, "Invalid Request: batch of \(messages.count) messages; at most \(maxBatch) allowed")))
        }
        if let refusal = HTTPReplies.scopeRefusal(frame, principal: context.principal, registry: dispatcher.registry,
                                                  statelessEra: request.declaresStatelessEra) {
            return .failure(HTTPRefusal(refusal))
        }
        // Each message of a batch is a request of its own: let in as one, a batch of 64 made
        // the per-token rate 64 times what it says. It is charged for the rest now, as a debt
        // the token's next requests wait out, so a batch of any size (up to the cap) can pass.
        if case .batch(let messages) = frame, messages.count > 1, let limiter = context.rateLimiter, let principal = context.principal {
            limiter.charge(principal: principal, cost: messages.count - 1)
        }
        return .success(frame)
    }
}

/// A response that ends a request early.
struct HTTPRefusal: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}

extension JSONRPCFrame {
    var messages: [JSONRPCInbound] {
        switch self {
        case .single(let m): [m]
        case .batch(let ms): ms
        case .parseError: []
        }
    }
}

extension HTTPField.Name {
    static let mcpSessionID = Self("Mcp-Session-Id")!
    static let mcpProtocolVersion = Self("MCP-Protocol-Version")!
    static let mcpMethod = Self("Mcp-Method")!
    static let mcpName = Self("Mcp-Name")!
    static let lastEventID = Self("Last-Event-ID")!
    static let retryAfter = Self("Retry-After")!
}

/// Why a body could not be read.
enum BodyError: Error {
    case tooLarge
    case unreadable
    /// Refused below while it was read (a malformed chunk: 400; trailers over the header
    /// caps: 431), with the codec's reason when it gave one.
    case refused(HTTPResponse.Status, String?)
}

extension Request {
    /// Whether the request's `MCP-Protocol-Version` names a stateless-era revision
    /// (2026-07-28), whose refusals carry their own codes (``HTTPReplies/refusal(_:_:statelessEra:id:data:headers:)``).
    /// Looked up only for a refusal.
    var declaresStatelessEra: Bool {
        headers.value(.mcpProtocolVersion).map(ProtocolVersion.statelessEra.contains) ?? false
    }

    /// Collects the body up to `limit` bytes: refused from Content-Length before reading,
    /// and again while streaming for chunked bodies (413 either way).
    ///
    /// A body that is not complete within `timeout` closes the connection (slow senders
    /// hold a connection and a buffer; the deadline bounds both).
    ///
    /// With a declared length, the body must also arrive at `minRate` bytes per second
    /// (floor 2 s): a client trickling a small body is cut off long before `timeout`.
    func collectBody(limit: Int, timeout: Duration, minRate: Int = 0, context: MCPRequestContext, metrics: ServerMetrics?,
                     budget: SharedByteBudget? = nil) async throws(BodyError) -> ByteBuffer {
        let declared = headers.value(.contentLength).flatMap(Int.init)
        if let declared, declared > limit {
            throw .tooLarge
        }
        var timeout = timeout
        if let declared, minRate > 0 {
            timeout = min(timeout, max(.seconds(2), .milliseconds(Int64(declared) * 1000 / Int64(minRate))))
        }
        // A body already in hand cannot stall; scheduling a deadline on the loop from here
        // and cancelling it cost more than the rest of collecting it.
        let channel = context.channel
        let timer = context.bodyComplete ? nil : channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            metrics?.counter(.timeouts, "body").increment()
            channel.close(promise: nil)
        }
        defer { timer?.cancel() }
        // RFC 9110 §10.1.1: a client that expects 100 (Continue) waits for it before sending
        // the body (curl does for large POSTs, for up to a second). It is sent only now that
        // the request passed its checks and the declared length fits; a refusal before this
        // was the final answer instead.
        if !context.bodyComplete, RequestDispatcher.expectsContinue(headers) {
            channel.writeAndFlush(HTTPResponsePart.head(HTTPResponse(status: .continue)), promise: nil)
        }
        do {
            // Counted part by part (`limits.max_buffered_body_bytes`) until whole; a body
            // that came with its head is in hand already, at most 16 KiB.
            guard !context.bodyComplete, let held = budget?.body(on: channel) else { return try await body.collect(upTo: limit) }
            var whole = ByteBuffer()
            for try await part in body {
                guard part.readableBytes <= limit - whole.readableBytes else { throw NIOTooManyBytesError(maxBytes: limit) }
                whole.writeImmutableBuffer(part)
                held.received(part.readableBytes, holding: whole.capacity)
            }
            return whole
        } catch is NIOTooManyBytesError {
            throw .tooLarge
        } catch let refusal as RequestRefusal {
            throw .refused(refusal.head.status, refusal.message)
        } catch {
            throw .unreadable
        }
    }

    /// Whether the Accept header lists the media type (or a wildcard that covers it).
    func accepts(_ mediaType: String) -> Bool {
        guard let accept = headers.value(.accept) else { return false }
        return AcceptHeader.covers(accept, mediaType: mediaType)
    }
}

/// Accept-header matching on UTF-8 bytes: it runs on every POST, and the String-based
/// version (split, trim, lowercase per range) cost as much as the rest of the routing.
enum AcceptHeader {
    /// What every Streamable HTTP POST must accept (2025-11-25 transports.mdx "Sending
    /// Messages to the Server"). The value the SDK clients send is recognised whole, before
    /// the two scans of the general case.
    static func coversJSONAndEventStream(_ accept: String) -> Bool {
        accept == "application/json, text/event-stream"
            || (covers(accept, mediaType: "application/json") && covers(accept, mediaType: "text/event-stream"))
    }

    /// Each comma-separated range up to its `;` parameters, trimmed of spaces and tabs, is
    /// compared case-insensitively with `type/subtype`, `type/*` and `*/*` (RFC 9110 §12.5.1).
    static func covers(_ accept: String, mediaType: String) -> Bool {
        var accept = accept
        var wanted = mediaType
        return accept.withUTF8 { header in
            wanted.withUTF8 { type in
                guard let slash = type.firstIndex(of: UInt8(ascii: "/")) else { return false }
                var start = 0
                while start <= header.count {
                    var end = start
                    while end < header.count, header[end] != UInt8(ascii: ",") { end += 1 }
                    var stop = start
                    while stop < end, header[stop] != UInt8(ascii: ";") { stop += 1 }
                    var first = start
                    while first < stop, header[first] == 0x20 || header[first] == 0x09 { first += 1 }
                    while stop > first, header[stop - 1] == 0x20 || header[stop - 1] == 0x09 { stop -= 1 }
                    let range = UnsafeBufferPointer(rebasing: header[first..<stop])
                    if matches(range, type[...]) || matches(range, "*/*") || isWildcard(range, for: type[..<(slash + 1)]) {
                        return true
                    }
                    start = end + 1
                }
                return false
            }
        }
    }

    private static func matches(_ range: UnsafeBufferPointer<UInt8>, _ type: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        range.count == type.count && zip(range, type).allSatisfy { lower($0) == lower($1) }
    }

    private static func matches(_ range: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { range.elementsEqual($0) }
    }

    /// `type/*` where `prefix` is `type/`.
    private static func isWildcard(_ range: UnsafeBufferPointer<UInt8>, for prefix: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        range.count == prefix.count + 1 && range[range.count - 1] == UInt8(ascii: "*")
            && zip(range, prefix).allSatisfy { lower($0) == lower($1) }
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }
}
