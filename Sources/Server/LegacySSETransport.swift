import Foundation
import Prometheus
import HTTPTypes
import Hummingbird
import MCPCore
import NIOCore

/// The HTTP+SSE transport of 2024-11-05 (basic/transports.mdx "HTTP with SSE"), served at
/// `/sse` + `/messages`, and the Go server's SSE API at `/api/mcp/v1/sse`, which is the same
/// stream plus the Go events (`connected`, `ping`), so native MCP clients can use it too.
struct LegacySSETransport: Sendable {
    let dispatcher: MCPDispatcher
    let sessions: SessionStore
    let streams: StreamTracker
    let options: ServerOptions
    let metrics: ServerMetrics?
    /// `limits.max_buffered_body_bytes` (nil: bodies are not counted, as in tests).
    var bodies: SharedByteBudget? = nil
    /// `limits.max_unsent_bytes`, charged with what each event stream holds (nil: not charged).
    var unsent: SharedByteBudget? = nil

    static let transportLabel = "sse"

    enum Flavour: Sendable { case mcp, goAPI }

    /// Opens the event stream: the `endpoint` event first, as the spec requires, then
    /// responses as `message` events.
    func open(_ request: Request, context: MCPRequestContext, flavour: Flavour) async -> Response {
        let owner = SessionStore.Owner(context.principal)
        let stream = SSEStream(capacity: options.sseWriteBuffer, metrics: metrics)
        do {
            try streams.open(stream, owner: owner.name, listening: true)
        } catch {
            return StreamableHTTPTransport.streamRefusal(error)
        }
        let id: String
        do {
            (id, _) = try sessions.create(owner: owner, kind: .legacySSE, stream: stream) {
                // A batch's requests wait their turn announced, beside the single ones.
                MCPSession(transport: Self.transportLabel, principal: context.principal, maxInFlight: options.maxInFlightPerSession,
                           maxAnnounced: options.maxInFlightPerSession + dispatcher.configuration.maxBatch)
            }
        } catch {
            streams.close(stream, owner: owner.name)
            return StreamableHTTPTransport.capResponse(error == .globalCap, what: "sessions")
        }
        stream.send(event: "endpoint", data: "/messages?sessionId=\(id)")
        if flavour == .goAPI {
            stream.send(event: "connected", data: #"{"clientId":"\#(id)"}"#)
        }
        let sessions = self.sessions, streams = self.streams
        return SSEResponse.make(
            stream: stream, channel: context.channel, watch: context.connectionWatch,
            keepAlive: flavour == .goAPI ? .pingEvent : .comment, interval: options.ssePingInterval,
            unsent: unsent,
            onEnd: {
                sessions.remove(id, owner: nil)
                streams.close(stream, owner: owner.name)
            })
    }

    /// `POST /messages?sessionId=`: accepted with 202, answered on the stream.
    func message(_ request: Request, context: MCPRequestContext) async -> Response {
        guard let id = request.uri.queryParameters.get("sessionId"), !id.isEmpty else {
            return HTTPReplies.rpcError(.badRequest, .invalidRequest, "Bad Request: sessionId query parameter is required")
        }
        guard let session = sessions.lookup(id, owner: SessionStore.Owner(context.principal), kind: .legacySSE), let stream = sessions.stream(of: id) else {
            return HTTPReplies.rpcError(.notFound, .invalidRequest, "Session not found")
        }
        let frame: JSONRPCFrame
        switch await FrameReader(dispatcher: dispatcher, options: options, metrics: metrics, bodies: bodies).read(request, context: context) {
        case .success(let value): frame = value
        case .failure(let refusal): return refusal.response
        }
        let dispatcher = self.dispatcher, sessions = self.sessions, streams = self.streams
        // A notification or a client's response needs no answer and no task: acted on before
        // the 202, it takes effect in the order the client posted it. In a task of its own, a
        // cancel could run after the request it names had already finished (or a later POST
        // had started), depending on how the tasks were scheduled.
        switch frame {
        case .single(.notification(let method, let params)):
            dispatcher.handle(notification: method, params: params, session: session)
            return HTTPReplies.empty(.accepted)
        case .single(.response):
            return HTTPReplies.empty(.accepted)
        default:
            break
        }
        // The answer travels on the stream: a graceful shutdown must not end it before. A
        // stream already ended (drained, cut off as a slow reader) is a session on its way
        // out: the call is refused rather than run with its answer dropped.
        guard streams.expectAnswer(on: stream) else {
            return HTTPReplies.rpcError(.notFound, .invalidRequest, "Session not found")
        }
        // Accepted (202) before its task runs: a cancel the client posts after that must find
        // it, also for each request of a batch. Requests that cannot all be announced are
        // refused, not run beyond the client's reach.
        let requestIDs = frame.messages.compactMap { if case .request(let request) = $0 { request.id } else { nil } }
        switch session.announce(requestIDs) {
        case .announced:
            break
        case .full:
            streams.answered(on: stream)
            metrics?.counter(.inflightRejected, "per_session").increment()
            return HTTPReplies.refusal(.tooManyRequests, "Too many requests waiting on this session (max \(session.maxAnnounced))",
                                      statelessEra: false, headers: [.retryAfter: "1"])
        case .duplicate(let duplicate):
            streams.answered(on: stream)
            return HTTPReplies.rpcError(.badRequest, .invalidRequest,
                                        "Invalid Request: request id \(duplicate) is already in use on this session", id: duplicate)
        }
        sessions.setBusy(id, 1)
        Task(executorPreference: MCPDispatcher.requestExecutor) {
            defer {
                sessions.setBusy(id, -1)
                streams.answered(on: stream)
            }
            let outbound = SSEOutbound(stream: stream)
            let response: JSONValue? = switch frame {
            case .single(let message): await dispatcher.handle(message, session: session, outbound: outbound)
            case .batch(let messages): await dispatcher.handle(batch: messages, session: session, outbound: outbound)
            case .parseError: Optional.none
            }
            // Withdrawn before the answer goes out; a request the client cancelled meanwhile
            // is not answered.
            let cancelled = requestIDs.filter { session.withdraw($0) }.map(\.json)
            if let response = Self.dropping(cancelled, from: response) { _ = stream.sendMessage(response) }
        }
        return HTTPReplies.empty(.accepted)
    }

    /// A response, or a batch's, without the answers to the requests `cancelled` names; nil
    /// when nothing is left to send.
    static func dropping(_ cancelled: [JSONValue], from response: JSONValue?) -> JSONValue? {
        // `Optional.none` spelled out: a bare `nil` beside a JSONValue would be JSON null.
        guard let response, !cancelled.isEmpty else { return response }
        if case .array(let answers) = response {
            let kept = answers.filter { answer in !cancelled.contains { $0 == answer["id"] } }
            if kept.isEmpty { return Optional.none }
            return .array(kept)
        }
        if cancelled.contains(where: { $0 == response["id"] }) { return Optional.none }
        return response
    }
}

/// The Go server's plain HTTP JSON-RPC API (reference/seed-interface.md): no handshake,
/// answers in the body, tool failures as `isError` results (never HTTP 500).
struct GoAPITransport: Sendable {
    let dispatcher: MCPDispatcher
    let options: ServerOptions
    let metrics: ServerMetrics?
    /// `limits.max_buffered_body_bytes` (nil: bodies are not counted, as in tests).
    var bodies: SharedByteBudget? = nil

    func call(_ request: Request, context: MCPRequestContext, transport: String) async -> Response {
        let frame: JSONRPCFrame
        switch await FrameReader(dispatcher: dispatcher, options: options, metrics: metrics, bodies: bodies).read(request, context: context) {
        case .success(let value): frame = value
        case .failure(let refusal): return refusal.response
        }
        let dispatcher = self.dispatcher
        if case .single(let message) = frame {
            // This task only answers the message after its call: the call may run in it, and
            // closing the connection, or the end of the client's input, cancels it.
            let session = MCPSession(transport: transport, principal: context.principal, requiresInitialize: false, maxInFlight: 1,
                                     callsInline: true)
            let watch = context.connectionWatch
            watch.onClose(atEndOfInput: true) { session.cancelAll() }
            let response = await dispatcher.handle(message, session: session, outbound: DiscardingOutbound())
            watch.clear()
            // A request left unanswered was cancelled because its client went; a notification
            // has no answer, and gets its 202.
            if response == nil, case .request = message, session.cancelledAll { return HTTPReplies.clientGone() }
            return response.map { HTTPReplies.rpcAnswer($0) } ?? HTTPReplies.empty(.accepted)
        }
        let session = MCPSession(transport: transport, principal: context.principal, requiresInitialize: false, maxInFlight: 1)
        // A batch's calls are cancelled if the client hangs up (nothing could deliver their answers).
        let responses = await context.connectionWatch.whileConnected {
            await dispatcher.answers(to: frame.messages, session: session, outbound: DiscardingOutbound())
        }
        guard !responses.isEmpty else { return HTTPReplies.empty(.accepted) }
        return HTTPReplies.json(.array(responses))
    }

    /// `GET /api/mcp/v1/tools`: `{"tools":[…],"count":N}`.
    func tools(context: MCPRequestContext) -> Response {
        let allowsWrites = context.principal?.allowsWrites ?? true
        let visible = dispatcher.registry.tools.filter { allowsWrites || !$0.writes }
        return HTTPReplies.json(["tools": .array(visible.map(dispatcher.registry.listing(of:))), "count": .int(Int64(visible.count))])
    }
}
