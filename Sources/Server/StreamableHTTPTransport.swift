import Foundation
import Prometheus
import HTTPTypes
import Hummingbird
import MCPCore
import NIOCore

/// Streamable HTTP at `/mcp`: the session era (2025-03-26, 2025-06-18, 2025-11-25
/// basic/transports.mdx "Streamable HTTP") and the stateless 2026-07-28 revision
/// (2026-07-28 basic/transports/streamable-http.mdx) on the same endpoint, told apart by
/// the `MCP-Protocol-Version` header.
struct StreamableHTTPTransport: Sendable {
    let dispatcher: MCPDispatcher
    let sessions: SessionStore
    let streams: StreamTracker
    let options: ServerOptions
    let metrics: ServerMetrics?
    /// `limits.max_buffered_body_bytes` (nil: bodies are not counted, as in tests).
    var bodies: SharedByteBudget? = nil
    /// `limits.max_unsent_bytes`, charged with what each event stream holds (nil: not charged).
    var unsent: SharedByteBudget? = nil

    static let transportLabel = "streamable_http"
    /// The 2026-07-28 methods whose `Mcp-Name` header must match the body's name or uri.
    static let namedMethods: Set<String> = ["tools/call", "resources/read", "prompts/get"]

    // MARK: POST

    func post(_ request: Request, context: MCPRequestContext) async -> Response {
        // 2025-11-25 transports.mdx "Sending Messages to the Server": the client MUST
        // accept both forms of answer.
        guard let accept = request.headers.value(.accept), AcceptHeader.coversJSONAndEventStream(accept) else {
            return HTTPReplies.rpcError(.notAcceptable, .invalidRequest, "Not Acceptable: Accept must list application/json and text/event-stream")
        }
        guard request.headers.value(.contentType)?.hasPrefixIgnoringASCIICase("application/json") == true else {
            return HTTPReplies.rpcError(.unsupportedMediaType, .invalidRequest, "Unsupported Media Type: Content-Type must be application/json")
        }
        let frame: JSONRPCFrame
        switch await FrameReader(dispatcher: dispatcher, options: options, metrics: metrics, bodies: bodies).read(request, context: context) {
        case .success(let value): frame = value
        case .failure(let refusal): return refusal.response
        }
        let version = request.headers.value(.mcpProtocolVersion)
        if let version, ProtocolVersion.statelessEra.contains(version) {
            return await postStateless(request, frame: frame, version: version, context: context)
        }
        let isInitialize = if case .single(.request(let r)) = frame { r.method == "initialize" } else { false }
        if let refusal = unsupportedVersion(version, initialize: isInitialize, id: frame.requestID) { return refusal }
        return await postSession(request, frame: frame, context: context)
    }

    /// 2025-06-18 and 2025-11-25 transports.mdx "Protocol Version Header": "If the server
    /// receives a request with an invalid or unsupported `MCP-Protocol-Version`, it MUST
    /// respond with `400 Bad Request`", whatever its method.
    ///
    /// Supported means what this server negotiates (``MCPDispatcher/Configuration/supportedVersions``):
    /// with `server.protocol_version` pinned to an older revision, no session here ever
    /// negotiated a newer one, so a header naming one is as unsupported as an unknown version
    /// (2026-07-28 is not negotiated by `initialize`, and the pin leaves it alone). `initialize`
    /// itself only needs a known revision: the header is for the requests after it ("all
    /// subsequent requests"), and the body's negotiation answers with the version to use.
    func unsupportedVersion(_ version: String?, initialize: Bool = false, id: JSONRPCID? = nil) -> Response? {
        guard let version else { return nil }
        let supported = dispatcher.configuration.supportedVersions
        if supported.contains(version) || (initialize && ProtocolVersion.all.contains(version)) { return nil }
        let requested = String(version.prefix(40))
        return HTTPReplies.rpcError(.badRequest, .unsupportedProtocolVersion,
                                    "Unsupported MCP-Protocol-Version: \(requested); this server supports \(supported.joined(separator: ", "))", id: id,
                                    data: ["requested": .string(requested), "supported": .array(supported.map(JSONValue.string))])
    }

    /// The priming event (an id and empty data) is 2025-11-25's: older clients expect only
    /// JSON-RPC messages on a stream, and some fail to parse an empty `data`.
    static func primes(_ session: MCPSession) -> Bool {
        (session.negotiatedVersion ?? ProtocolVersion.latestSessionEra) >= "2025-11-25"
    }

    private func owner(_ context: MCPRequestContext) -> SessionStore.Owner {
        SessionStore.Owner(context.principal)
    }

    /// The session era: `initialize` creates a session; everything else names it.
    private func postSession(_ request: Request, frame: JSONRPCFrame, context: MCPRequestContext) async -> Response {
        let messages: [JSONRPCInbound] = switch frame {
        case .single(let m): [m]
        case .batch(let ms): ms
        case .parseError: []
        }
        let isInitialize = messages.contains { if case .request(let r) = $0 { r.method == "initialize" } else { false } }
        let sessionID = request.headers.value(.mcpSessionID)
        // 2026-07-28 streamable-http.mdx: the header MUST match the `_meta` version; a body
        // that names the stateless revision under a session-era header (or none) is refused,
        // not served statelessly inside a session.
        for case .request(let r) in messages {
            if let named = r.meta?[ProtocolVersion.metaKey]?.stringValue, ProtocolVersion.statelessEra.contains(named) {
                let header = request.headers.value(.mcpProtocolVersion) ?? "none"
                return HTTPReplies.rpcError(.badRequest, .headerMismatch,
                                            "Header mismatch: MCP-Protocol-Version header '\(header.prefix(40))' does not match _meta protocol version '\(named)'", id: r.id)
            }
        }

        let session: MCPSession
        let id: String
        if isInitialize {
            // Alone and not in a batch, even one of one (2025-03-26 lifecycle.mdx: "The
            // initialization request MUST NOT be part of a JSON-RPC batch").
            guard case .single(.request(let initialize)) = frame else {
                return HTTPReplies.rpcError(.badRequest, .invalidRequest, "Invalid Request: initialize must be sent alone, not in a batch")
            }
            if sessionID != nil {
                return HTTPReplies.rpcError(.badRequest, .invalidRequest, "Invalid Request: initialize must not carry Mcp-Session-Id", id: initialize.id)
            }
            do {
                (id, session) = try sessions.create(owner: owner(context), kind: .streamable) {
                    MCPSession(transport: Self.transportLabel, principal: context.principal, maxInFlight: options.maxInFlightPerSession)
                }
            } catch {
                return Self.capResponse(error == .globalCap, what: "sessions", id: initialize.id)
            }
            let response = await dispatcher.handle(request: initialize, session: session, outbound: DiscardingOutbound())
            if response?["error"] != nil { sessions.remove(id, owner: nil) }
            var headers: HTTPFields = [:]
            if response?["result"] != nil { headers[.mcpSessionID] = id }
            return HTTPReplies.json(response ?? .null, headers: headers)
        }

        // 2025-11-25 transports.mdx "Session Management": a request without the id is a
        // 400; an unknown or expired id is a 404, and the client starts over.
        guard let sessionID else {
            return HTTPReplies.rpcError(.badRequest, .invalidRequest, "Bad Request: Mcp-Session-Id header is required", id: frame.requestID)
        }
        guard let found = sessions.lookup(sessionID, owner: owner(context), kind: .streamable) else {
            return HTTPReplies.rpcError(.notFound, .invalidRequest, "Session not found", id: frame.requestID)
        }
        session = found
        id = sessionID

        // JSON-RPC batches are 2025-03-26's (and the Go API's); 2025-06-18 removed them ("The
        // body of the POST request MUST be a single JSON-RPC request, notification, or
        // response"): the dispatcher's rule, which stdio and legacy SSE follow too. A batch
        // is answered with an array, even of one (JSON-RPC 2.0 §6).
        let isBatch: Bool = if case .batch = frame { true } else { false }
        if isBatch, let refusal = dispatcher.refusal(ofBatch: messages, in: session) {
            dispatcher.refused(refusal)
            return HTTPReplies.json(refusal.response, status: .badRequest)
        }
        let requests = messages.compactMap { if case .request(let r) = $0 { r } else { nil } }
        let invalid = messages.compactMap { if case .invalid(let e) = $0 { e } else { nil } }
        // Notifications and client responses: act on them, answer 202 with no body.
        for case .notification(let method, let params) in messages {
            dispatcher.handle(notification: method, params: params, session: session)
        }
        if requests.isEmpty {
            if !invalid.isEmpty { return HTTPReplies.json(isBatch ? .array(invalid.map(\.response)) : invalid[0].response, status: .badRequest) }
            return HTTPReplies.empty(.accepted)
        }
        sessions.setBusy(id, 1)
        let sessions = self.sessions
        if !isBatch, wantsStream(requests[0]) {
            if let replay = sessions.replay(of: id) {
                return resumableAnswer(requests[0], session: session, replay: replay, context: context) { sessions.setBusy(id, -1) }
            }
            return sseAnswer(requests[0], session: session, context: context, cancelsOnClose: false) { sessions.setBusy(id, -1) }
        }
        defer { sessions.setBusy(id, -1) }
        let dispatcher = self.dispatcher
        var responses: [JSONValue] = invalid.map(\.response)
        // A batch's answers together are bounded (`server.max_batch_answer_bytes`): the
        // dispatcher's loop, as for every transport.
        let answer: @Sendable () async -> [JSONValue] = {
            await dispatcher.answers(to: requests.map { .request($0) }, session: session, outbound: DiscardingOutbound())
        }
        // 2025-11-25 transports.mdx "Sending Messages to the Server": "Disconnection SHOULD
        // NOT be interpreted as the client cancelling its request" (it cancels with
        // notifications/cancelled); the call runs on, within its tool timeout.
        responses += await answer()
        // 2025-11-25 transports.mdx "Session Management": once a session is terminated the
        // server MUST answer requests with its id with 404; that includes one that was
        // running when a DELETE (or the idle expiry) cancelled it.
        if !sessions.contains(id) { return HTTPReplies.rpcError(.notFound, .invalidRequest, "Session not found", id: frame.requestID) }
        // Every request was cancelled (cancellation.mdx: no response is sent). A POST of
        // requests is still answered in one of the two forms transports.mdx allows: an event
        // stream that ends without an event, not a 202, which is for notifications alone.
        if responses.isEmpty {
            var headers = HTTPReplies.sseHeaders
            headers[.contentLength] = "0"
            return HTTPReplies.empty(.ok, headers: headers)
        }
        return HTTPReplies.rpcAnswer(isBatch ? .array(responses) : responses[0])
    }

    /// The stateless revision: no session, headers must agree with the body.
    private func postStateless(_ request: Request, frame: JSONRPCFrame, version: String, context: MCPRequestContext) async -> Response {
        guard case .single(let message) = frame else {
            return HTTPReplies.rpcError(.badRequest, .invalidRequest, "Invalid Request: batches are not part of 2026-07-28")
        }
        let method: String, params: JSONObject, id: JSONRPCID?
        switch message {
        case .request(let r): (method, params, id) = (r.method, r.params, r.id)
        case .notification(let m, let p): (method, params, id) = (m, p, nil)
        case .response:
            return HTTPReplies.rpcError(.badRequest, .invalidRequest, "Invalid Request: clients must not send responses")
        case .invalid(let error):
            return HTTPReplies.json(error.response, status: .badRequest)
        }
        // 2026-07-28 streamable-http.mdx "Server Validation": -32020 on missing or
        // mismatched standard headers.
        func mismatch(_ text: String) -> Response {
            HTTPReplies.rpcError(.badRequest, .headerMismatch, "Header mismatch: \(text)", id: id)
        }
        guard let headerMethod = request.headers.value(.mcpMethod) else { return mismatch("Mcp-Method header is required") }
        guard headerMethod.hasSameCodeUnits(as: method) else {
            return mismatch("Mcp-Method header value '\(headerMethod.prefix(60))' does not match body value '\(method.prefix(60))'")
        }
        if Self.namedMethods.contains(method) {
            let bodyName = (params["name"] ?? params["uri"])?.stringValue
            guard let raw = request.headers.value(.mcpName) else { return mismatch("Mcp-Name header is required for \(method)") }
            guard let headerName = Self.decodeHeaderValue(raw) else { return mismatch("Mcp-Name header is not valid") }
            guard let bodyName, headerName.hasSameCodeUnits(as: bodyName) else {
                return mismatch("Mcp-Name header value '\(headerName.prefix(60))' does not match body value '\((bodyName ?? "").prefix(60))'")
            }
        }
        if let metaVersion = params["_meta"]?[ProtocolVersion.metaKey]?.stringValue, !metaVersion.hasSameCodeUnits(as: version) {
            return mismatch("MCP-Protocol-Version header '\(version)' does not match _meta protocol version '\(metaVersion.prefix(40))'")
        }
        guard let id, case .request(let rpc) = message else {
            return HTTPReplies.empty(.accepted)
        }
        if let problem = ProtocolVersion.missingRequestFields(params["_meta"]) {
            return HTTPReplies.rpcError(.badRequest, .invalidParams, problem, id: id)
        }
        // Decided before the answer's form: in SSE mode too, an unimplemented method is a 404
        // (a client tells the server's era by it), not a 200 stream carrying -32601.
        guard MCPDispatcher.statelessMethods.contains(method) else {
            return HTTPReplies.rpcError(.notFound, .methodNotFound, "Method not found: \(method.prefix(100))", id: id)
        }
        // The header is authoritative for the era: the session hands it to the dispatcher
        // (`_meta` names the same version or none, checked above).
        if wantsStream(rpc) {
            let session = MCPSession(transport: Self.transportLabel, principal: context.principal, requiresInitialize: false, maxInFlight: 1,
                                     requestVersion: version)
            return sseAnswer(rpc, session: session, context: context, cancelsOnClose: true, statelessEra: true) {}
        }
        // This task only answers the request after the call: the call may run in it.
        let session = MCPSession(transport: Self.transportLabel, principal: context.principal, requiresInitialize: false, maxInFlight: 1,
                                 callsInline: true, requestVersion: version)
        let dispatcher = self.dispatcher, request = rpc
        let response: JSONValue?
        if Self.mayRunLong(request.method) {
            // The session is this request's alone: closing the connection, or the end of the
            // client's input, cancels its calls (and any it would still start), without a task
            // of its own to watch.
            let watch = context.connectionWatch
            watch.onClose(atEndOfInput: true) { session.cancelAll() }
            response = await dispatcher.handle(request: request, session: session, outbound: DiscardingOutbound())
            watch.clear()
            if response == nil, session.cancelledAll { return HTTPReplies.clientGone() }
        } else {
            response = await dispatcher.handle(request: request, session: session, outbound: DiscardingOutbound())
        }
        guard let response else { return HTTPReplies.empty(.accepted) }
        // 2026-07-28 "Protocol Version Header": an unimplemented method is a 404 with -32601;
        // an unsupported version is a 400.
        switch response["error"]?["code"]?.intValue.map(Int.init) {
        case JSONRPCErrorCode.methodNotFound.rawValue?: return HTTPReplies.json(response, status: .notFound)
        case JSONRPCErrorCode.unsupportedProtocolVersion.rawValue?: return HTTPReplies.json(response, status: .badRequest)
        default: _ = id
        }
        return HTTPReplies.rpcAnswer(response)
    }

    /// Whether a request's work can last long enough to be worth cancelling when the client
    /// goes away: only tool calls. The watch costs a task per request, which for tools/list
    /// or ping was more than the answer.
    static func mayRunLong(_ method: String) -> Bool {
        method == "tools/call"
    }

    /// Whether to answer on an event stream: always in `sse` mode, and in `json` mode for a
    /// request that asked for progress, which only a stream can carry (the server may
    /// choose per request: 2025-11-25 transports.mdx "Sending Messages to the Server").
    private func wantsStream(_ rpc: JSONRPCRequest) -> Bool {
        options.responseMode == .sse || (rpc.method == "tools/call" && rpc.progressToken != nil)
    }

    /// Answers one request on its own SSE stream: its progress and log notifications first,
    /// then the response, which ends the stream.
    private func sseAnswer(_ rpc: JSONRPCRequest, session: MCPSession, context: MCPRequestContext, cancelsOnClose: Bool,
                           statelessEra: Bool = false, onEnd: @escaping @Sendable () -> Void) -> Response {
        let stream = SSEStream(capacity: options.sseWriteBuffer, metrics: metrics)
        let owner = owner(context).name
        do {
            try streams.open(stream, owner: owner, listening: false)
        } catch {
            onEnd()
            return Self.streamRefusal(error, id: rpc.id, statelessEra: statelessEra)
        }
        let dispatcher = self.dispatcher
        let streams = self.streams
        return SSEResponse.make(
            stream: stream, channel: context.channel, watch: context.connectionWatch, keepAlive: .comment, interval: options.ssePingInterval,
            work: {
                let response = await dispatcher.handle(request: rpc, session: session, outbound: SSEOutbound(stream: stream))
                if let response { stream.sendMessage(response) }
                stream.finish()
            },
            cancelsWorkOnClose: cancelsOnClose,
            unsent: unsent,
            onEnd: {
                streams.close(stream, owner: owner)
                onEnd()
            })
    }

    /// With resumability on: the request runs on its own (a dropped connection does not
    /// cancel it, 2025-11-25 transports.mdx: "Disconnection SHOULD NOT be interpreted as
    /// the client cancelling its request") and its events go to a resumable stream, primed
    /// with an id so the client can come back with `Last-Event-ID`.
    private func resumableAnswer(_ rpc: JSONRPCRequest, session: MCPSession, replay: ReplayBuffer, context: MCPRequestContext, onEnd: @escaping @Sendable () -> Void) -> Response {
        let live = SSEStream(capacity: options.sseWriteBuffer, metrics: metrics)
        let owner = owner(context).name
        do {
            try streams.open(live, owner: owner, listening: false)
        } catch {
            onEnd()
            return Self.streamRefusal(error, id: rpc.id)
        }
        let resumable: ResumableStream
        do {
            resumable = try replay.newStream(attaching: live)
        } catch {
            streams.close(live, owner: owner)
            onEnd()
            return refusal(error, id: rpc.id)
        }
        if Self.primes(session) { resumable.prime(retryMilliseconds: Self.retryMilliseconds) }
        let dispatcher = self.dispatcher
        Task(executorPreference: MCPDispatcher.requestExecutor) {
            let response = await dispatcher.handle(request: rpc, session: session, outbound: ResumableOutbound(stream: resumable))
            if let response { resumable.send(event: "message", data: response.serializedString()) }
            resumable.finish()
            onEnd()
        }
        return attachedResponse(live, resumable: resumable, owner: owner, channel: context.channel, watch: context.connectionWatch)
    }

    /// A connection carrying (part of) a resumable stream.
    private func attachedResponse(_ live: SSEStream, resumable: ResumableStream, owner: String, channel: any Channel,
                                  watch: ConnectionWatch, onEnd: @escaping @Sendable () -> Void = {}) -> Response {
        let streams = self.streams
        return SSEResponse.make(
            stream: live, channel: channel, watch: watch, keepAlive: .comment, interval: options.ssePingInterval,
            unsent: unsent,
            onEnd: {
                resumable.detach(live)
                streams.close(live, owner: owner)
                onEnd()
            })
    }

    /// How long a client should wait before reconnecting (the SSE `retry` field).
    static let retryMilliseconds = 1000

    // MARK: GET

    /// 2025-11-25 transports.mdx "Listening for Messages from the Server". Routed only while
    /// `server.get_stream_enabled` (``MCPServer/makePublicResponder()``): with it off, the
    /// router's 405 names the methods `/mcp` has.
    func get(_ request: Request, context: MCPRequestContext) async -> Response {
        if let refusal = unsupportedVersion(request.headers.value(.mcpProtocolVersion)) { return refusal }
        if let version = request.headers.value(.mcpProtocolVersion), ProtocolVersion.statelessEra.contains(version) {
            // 2026-07-28 replaced the GET stream with subscriptions/listen.
            return HTTPReplies.empty(.methodNotAllowed, headers: [.allow: "POST"])
        }
        guard request.accepts("text/event-stream") else {
            return HTTPReplies.rpcError(.notAcceptable, .invalidRequest, "Not Acceptable: Accept must list text/event-stream")
        }
        guard let id = request.headers.value(.mcpSessionID) else {
            return HTTPReplies.rpcError(.badRequest, .invalidRequest, "Bad Request: Mcp-Session-Id header is required")
        }
        let owner = owner(context)
        guard let session = sessions.lookup(id, owner: owner, kind: .streamable) else {
            return HTTPReplies.rpcError(.notFound, .invalidRequest, "Session not found")
        }
        let stream = SSEStream(capacity: options.sseWriteBuffer, metrics: metrics)
        // 2025-11-25 transports.mdx "Resumability and Redelivery": resumption is always a
        // GET with Last-Event-ID, replaying only the stream that was disconnected.
        if let replay = sessions.replay(of: id) {
            let resumable: ResumableStream
            var resumed: ResumableStream?
            var after = 0
            if let lastEventID = request.headers.value(.lastEventID) {
                // Not 404: a client that gets 404 for a request with its session id MUST start
                // a new session (2025-11-25 transports.mdx "Session Management"), and the
                // session is fine; only this stream cannot be resumed.
                guard let (streamID, seq) = ReplayBuffer.parse(lastEventID), let found = replay.stream(streamID) else {
                    return HTTPReplies.rpcError(.badRequest, .invalidRequest, "Unknown or expired Last-Event-ID")
                }
                (resumed, after) = (found, seq)
            }
            do {
                try streams.open(stream, owner: owner.name, listening: true)
            } catch {
                return Self.streamRefusal(error)
            }
            if let resumed {
                guard resumed.attach(stream, after: after) else {
                    streams.close(stream, owner: owner.name)
                    return HTTPReplies.rpcError(.badRequest, .invalidRequest, "Events after Last-Event-ID are no longer available")
                }
                resumable = resumed
            } else {
                do {
                    resumable = try replay.newStream(attaching: stream)
                } catch {
                    streams.close(stream, owner: owner.name)
                    return refusal(error)
                }
                if Self.primes(session) { resumable.prime(retryMilliseconds: Self.retryMilliseconds) }
            }
            // A client that only listens is not idle: the session does not expire under it.
            let sessions = self.sessions
            sessions.setBusy(id, 1)
            return attachedResponse(stream, resumable: resumable, owner: owner.name, channel: context.channel, watch: context.connectionWatch) { sessions.setBusy(id, -1) }
        }
        do {
            try streams.open(stream, owner: owner.name, listening: true)
        } catch {
            return Self.streamRefusal(error)
        }
        // A client may reopen a dropped stream: the new one replaces the old.
        guard sessions.attach(stream, to: id) else {
            streams.close(stream, owner: owner.name)
            return HTTPReplies.rpcError(.notFound, .invalidRequest, "Session not found")
        }
        let sessions = self.sessions, streams = self.streams
        return SSEResponse.make(
            stream: stream, channel: context.channel, watch: context.connectionWatch, keepAlive: .comment, interval: options.ssePingInterval,
            unsent: unsent,
            onEnd: {
                sessions.detach(stream, from: id)
                streams.close(stream, owner: owner.name)
            })
    }

    // MARK: DELETE

    /// 2025-11-25 transports.mdx "Session Management": the client ends its session.
    func delete(_ request: Request, context: MCPRequestContext) async -> Response {
        if let refusal = unsupportedVersion(request.headers.value(.mcpProtocolVersion)) { return refusal }
        guard let id = request.headers.value(.mcpSessionID) else {
            return HTTPReplies.rpcError(.badRequest, .invalidRequest, "Bad Request: Mcp-Session-Id header is required")
        }
        guard sessions.remove(id, owner: owner(context), kind: .streamable) else {
            return HTTPReplies.rpcError(.notFound, .invalidRequest, "Session not found")
        }
        return HTTPReplies.empty(.noContent)
    }

    // MARK: Helpers

    /// A resumable stream not opened: the session ended meanwhile (404, as for any request
    /// with its id), or all its remembered streams are open (429: this client's doing).
    private func refusal(_ refusal: ReplayBuffer.Refusal, id: JSONRPCID? = nil) -> Response {
        switch refusal {
        case .sessionEnded:
            return HTTPReplies.rpcError(.notFound, .invalidRequest, "Session not found", id: id)
        case .allStreamsOpen:
            metrics?.counter(.sseStreamsRejected, "per_session").increment()
            return HTTPReplies.refusal(.tooManyRequests, "Too many open streams for this session", statelessEra: false,
                                       id: id, headers: [.retryAfter: "1"])
        }
    }

    /// A stream refused by ``StreamTracker``: at a cap, or because shutdown has begun (503,
    /// said as such, not as a cap).
    static func streamRefusal(_ refusal: StreamTracker.Refusal, id: JSONRPCID? = nil, statelessEra: Bool = false) -> Response {
        if refusal == .draining {
            return HTTPReplies.refusal(.serviceUnavailable, "Server shutting down", statelessEra: statelessEra, id: id,
                                       headers: [.retryAfter: "5"])
        }
        return capResponse(refusal == .globalCap, what: "SSE streams", id: id, statelessEra: statelessEra)
    }

    /// 503 when the whole server is at a cap, 429 when this client is.
    static func capResponse(_ global: Bool, what: String, id: JSONRPCID? = nil, statelessEra: Bool = false) -> Response {
        HTTPReplies.refusal(
            global ? .serviceUnavailable : .tooManyRequests,
            global ? "Server at its limit of \(what); retry later" : "Too many \(what) for this token",
            statelessEra: statelessEra, id: id, headers: [.retryAfter: global ? "5" : "1"])
    }

    /// Decodes the `=?base64?…?=` sentinel form of an `Mcp-Name` value
    /// (2026-07-28 streamable-http.mdx "Value Encoding").
    static func decodeHeaderValue(_ raw: String) -> String? {
        guard raw.hasPrefix("=?base64?"), raw.hasSuffix("?=") else { return raw }
        let inner = raw.dropFirst(9).dropLast(2)
        guard let bytes = Base64.decode(String(inner)) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}

/// Standard base64 (RFC 4648 §4) decoding, padded or not.
enum Base64 {
    static func decode(_ text: String) -> [UInt8]? {
        let trimmed = text.replacingOccurrences(of: "=", with: "")
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        return Base64URL.decode(trimmed)
    }
}
