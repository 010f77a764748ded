import Dispatch
import Logging
import Synchronization

/// Who this server says it is, in `initialize` and `server/discover`.
public struct ServerIdentity: Sendable, Hashable {
    public var name: String
    public var version: String
    public var title: String?
    public var instructions: String?

    public init(name: String, version: String, title: String? = nil, instructions: String? = nil) {
        self.name = name
        self.version = version
        self.title = title
        self.instructions = instructions
    }

    var json: JSONValue {
        var object: JSONObject = ["name": .string(name), "version": .string(version)]
        if let title { object["title"] = .string(title) }
        return .object(object)
    }
}

/// The one MCP request handler every transport shares. It is stateless itself: what a
/// client negotiated lives in its ``MCPSession``, and messages the server originates go to
/// the transport's ``MCPOutbound``.
///
/// Rules it enforces, each with the clause it follows:
/// - JSON-RPC 2.0 framing and error codes (jsonrpc.org/specification §4, §5.1);
///   notifications are never answered, not even with an error (§4.1).
/// - The session-era lifecycle: `initialize` first, version negotiation, no second
///   `initialize` (2025-11-25 basic/lifecycle.mdx).
/// - The stateless era: a request whose `_meta` names `2026-07-28` needs no handshake, and
///   its result carries `resultType` and the server's identity (2026-07-28 changelog §2, §8).
public final class MCPDispatcher: Sendable {
    public struct Configuration: Sendable {
        public var identity: ServerIdentity
        /// Tools per `tools/list` page.
        public var pageSize: Int
        /// Deadline of a tool call that does not declare its own.
        public var defaultToolTimeout: Duration
        /// Caps on an incoming message (size, nesting and values).
        public var jsonLimits: JSONParser.Limits
        /// Most messages in one JSON-RPC batch (JSON-RPC 2.0 §6 sets no limit; each is a
        /// request of its own, so one frame could queue unbounded work).
        public var maxBatch: Int
        /// About the most bytes a batch's answers together may take (`server.max_batch_answer_bytes`):
        /// they are kept until the last is ready and sent as one message, so 64 results near
        /// `tools.max_result_bytes` each (written twice, as text and as `structuredContent`)
        /// were 128 MiB per batch. Past it the batch's remaining requests are answered with
        /// an error and not run.
        public var maxBatchAnswerBytes: Int
        /// `ttlMs` of a stateless `tools/list` (2026-07-28 server/utilities/caching.mdx).
        public var listTTL: Duration
        /// The newest revision `initialize` negotiates (`server.protocol_version`), one of
        /// ``ProtocolVersion/sessionEra``: an operator may hold clients to an older one.
        public var newestSessionVersion: String

        public init(
            identity: ServerIdentity,
            pageSize: Int = 50,
            defaultToolTimeout: Duration = .seconds(60),
            jsonLimits: JSONParser.Limits = JSONParser.Limits(),
            maxBatch: Int = 64,
            maxBatchAnswerBytes: Int = 8 << 20,
            listTTL: Duration = .seconds(60),
            newestSessionVersion: String = ProtocolVersion.latestSessionEra
        ) {
            precondition(ProtocolVersion.sessionEra.contains(newestSessionVersion), "not a session-era revision: \(newestSessionVersion)")
            self.identity = identity
            self.pageSize = pageSize
            self.maxBatchAnswerBytes = maxBatchAnswerBytes
            self.defaultToolTimeout = defaultToolTimeout
            self.jsonLimits = jsonLimits
            self.maxBatch = max(1, maxBatch)
            self.listTTL = listTTL
            self.newestSessionVersion = newestSessionVersion
        }

        /// The revisions this server speaks, newest first.
        public var supportedVersions: [String] {
            ProtocolVersion.supported(newestSessionEra: newestSessionVersion)
        }
    }

    public let configuration: Configuration
    public let registry: ToolRegistry
    let observer: (any MCPObserver)?
    let admission: (any CallAdmission)?
    let logger: Logger
    let deadlines = ToolDeadlines()
    /// `serverInfo`, made once: every stateless answer carries it in its `_meta`.
    let identityJSON: JSONValue
    /// The `_meta` of a stateless answer whose result has none (the usual case), made and
    /// serialized once rather than built and walked for every answer.
    let serverInfoMeta: JSONValue

    /// What a session may ask before its handshake.
    static let beforeInitialize: Set<String> = ["initialize", "ping", "server/discover"]

    /// What a stateless (2026-07-28) request may ask: that revision has no handshake, and
    /// removed `ping` and `logging/setLevel` (changelog item 5).
    public static let statelessMethods: Set<String> = ["server/discover", "tools/list", "tools/call"]

    /// Methods reported by name in metrics; anything else is `other`, so a client cannot
    /// grow the label set.
    static let knownMethods: Set<String> = [
        "initialize", "ping", "server/discover", "tools/list", "tools/call", "logging/setLevel",
        "resources/list", "resources/templates/list", "resources/read",
    ]

    public init(configuration: Configuration, registry: ToolRegistry, observer: (any MCPObserver)? = nil, admission: (any CallAdmission)? = nil, logger: Logger = Logger(label: "mcp.dispatcher")) {
        self.configuration = configuration
        self.registry = registry
        self.observer = observer
        self.admission = admission
        self.logger = logger
        identityJSON = configuration.identity.json
        serverInfoMeta = .object(JSONObject(entries: [.init(key: ProtocolVersion.serverInfoKey, value: identityJSON)]).preserialized())
    }

    // MARK: - Entry points

    /// Counts `error` if it refused a message at an input cap (`mcp_input_refused_total`).
    /// For the transports too, which refuse some frames before the dispatcher sees them.
    public func refused(_ error: JSONRPCError) {
        if let cap = error.cap { observer?.inputRefused(at: cap) }
    }

    /// Counts a refusal at `cap` that has no JSON-RPC error of its own (a 413, a line over
    /// the cap).
    public func refused(at cap: InputCap) {
        observer?.inputRefused(at: cap)
    }

    /// Handles one transport frame (a message or a batch) and returns the bytes to send
    /// back, or nil when nothing is to be sent (notifications, client responses).
    public func handle(bytes: some Collection<UInt8>, session: MCPSession, outbound: any MCPOutbound) async -> [UInt8]? {
        switch JSONRPCFrame.parse(bytes, limits: configuration.jsonLimits) {
        case .parseError(let error):
            refused(error)
            observer?.requestFinished(method: "other", transport: session.transport, duration: .zero, errorCode: error.code)
            return error.response.serialized()
        case .single(let inbound):
            return await handle(inbound, session: session, outbound: outbound)?.serialized()
        case .batch(let messages):
            return await handle(batch: messages, session: session, outbound: outbound)?.serialized()
        }
    }

    /// Handles a batch (JSON-RPC 2.0 §6): one error if it is refused as a whole (see
    /// ``refusal(ofBatch:in:)``), else the array of its answers, or nil when none is due
    /// (a batch of notifications only gets no answer at all).
    public func handle(batch messages: [JSONRPCInbound], session: MCPSession, outbound: any MCPOutbound) async -> JSONValue? {
        if let refusal = refusal(ofBatch: messages, in: session) {
            refused(refusal)
            observer?.requestFinished(method: "other", transport: session.transport, duration: .zero, errorCode: refusal.code)
            return refusal.response
        }
        let responses = await answers(to: messages, session: session, outbound: outbound)
        return responses.isEmpty ? nil : .array(responses)
    }

    /// The answers to `messages`, handled in order, for a batch already checked (or the Go
    /// API's, which has no batch rules of its own). Once the answers so far pass
    /// `maxBatchAnswerBytes`, each request left is answered with an error (-32000, counted as
    /// `batch_answer`) and not run; notifications are still handled.
    public func answers(to messages: [JSONRPCInbound], session: MCPSession, outbound: any MCPOutbound) async -> [JSONValue] {
        var responses: [JSONValue] = []
        var bytes = 0
        // Only an answer with a request after it is sized: a lone request (every POST of a
        // session in JSON mode comes here) walks nothing.
        let lastRequest = messages.lastIndex { if case .request = $0 { true } else { false } } ?? -1
        // A batch's messages are all held until its last is answered: each call in it is
        // charged with all of them (`limits.max_inflight_request_bytes`), not its own alone.
        let held = admission != nil && messages.count > 1 && messages.contains { $0.isToolCall } ? Self.heldBytes(of: messages) : nil
        for (index, message) in messages.enumerated() {
            if bytes > configuration.maxBatchAnswerBytes, case .request(let request) = message {
                let error = JSONRPCError(
                    id: request.id, code: .serverError,
                    message: "Batch answer too large: the answers before this request passed \(configuration.maxBatchAnswerBytes) bytes; it was not run, send it again",
                    cap: .batchAnswer)
                refused(error)
                let method = Self.knownMethods.contains(request.method) ? request.method : "other"
                observer?.requestFinished(method: method, transport: session.transport, duration: .zero, errorCode: error.code)
                responses.append(error.response)
                continue
            }
            // Bound only in a batch with a call: a lone request (every JSON-mode POST) binds nothing.
            let answer = if let held {
                await Self.$batchHeldBytes.withValue(held) { await handle(message, session: session, outbound: outbound) }
            } else {
                await handle(message, session: session, outbound: outbound)
            }
            if let response = answer {
                if index < lastRequest { bytes += response.approximateSerializedBytes }
                responses.append(response)
            }
        }
        return responses
    }

    /// What the batch being answered holds (nil: no batch), which each of its calls is
    /// charged with instead of its own request.
    @TaskLocal static var batchHeldBytes: Int?

    /// About the memory a batch's parsed messages hold (``JSONValue/approximateHeldBytes``).
    static func heldBytes(of messages: [JSONRPCInbound]) -> Int {
        messages.reduce(JSONValue.heldSlotBytes + JSONValue.heldHeaderBytes) { total, message in
            switch message {
            case .request(let request): total + JSONValue.heldBytes(of: request.params) + request.method.utf8.count
            case .notification(let method, let params): total + JSONValue.heldBytes(of: params) + method.utf8.count
            case .response, .invalid: total + JSONValue.heldSlotBytes
            }
        }
    }

    /// Why a batch is refused as a whole (-32600, id null), if it is: more than
    /// `maxBatch` messages; a session whose revision has no batches
    /// (``ProtocolVersion/allowsBatches(_:)``), or a stateless request in one; `initialize`
    /// in one (2025-03-26 basic/lifecycle.mdx: it "MUST NOT be part of a JSON-RPC batch").
    /// Shared by every transport that takes batches, so they all follow one rule.
    public func refusal(ofBatch messages: [JSONRPCInbound], in session: MCPSession) -> JSONRPCError? {
        func refuse(_ why: String, cap: InputCap? = nil) -> JSONRPCError {
            JSONRPCError(id: nil, code: .invalidRequest, message: "Invalid Request: \(why)", cap: cap)
        }
        let maxBatch = configuration.maxBatch
        guard messages.count <= maxBatch else {
            return refuse("batch of \(messages.count) messages; at most \(maxBatch) allowed", cap: .batch)
        }
        if let version = session.negotiatedVersion, !ProtocolVersion.allowsBatches(version) {
            return refuse("JSON-RPC batches are not part of \(version)")
        }
        for case .request(let request) in messages {
            if request.method == "initialize" { return refuse("initialize must not be part of a batch") }
            if let version = request.meta?[ProtocolVersion.metaKey]?.stringValue, ProtocolVersion.statelessEra.contains(version) {
                return refuse("JSON-RPC batches are not part of \(version)")
            }
        }
        return nil
    }

    /// Handles one classified message; returns the response, if one is due.
    public func handle(_ inbound: JSONRPCInbound, session: MCPSession, outbound: any MCPOutbound) async -> JSONValue? {
        switch inbound {
        case .request(let request):
            return await handle(request: request, session: session, outbound: outbound)
        case .notification(let method, let params):
            handle(notification: method, params: params, session: session)
            return nil
        case .response:
            return nil
        case .invalid(let error):
            observer?.requestFinished(method: "other", transport: session.transport, duration: .zero, errorCode: error.code)
            return error.response
        }
    }

    /// Notifications from the client. Unknown ones are ignored (JSON-RPC 2.0 §4.1).
    public func handle(notification method: String, params: JSONObject, session: MCPSession) {
        switch method {
        case "notifications/initialized", "initialized":
            // `initialized` is what the Go server's clients send; keep accepting it.
            session.markInitialized()
        case "notifications/cancelled":
            // 2025-11-25 basic/utilities/cancellation.mdx: cancel if still running; no reply.
            if let raw = params["requestId"], let id = JSONRPCID(raw) {
                session.cancel(id)
            }
        default:
            break
        }
    }

    /// Handles a request. Returns nil only when the client cancelled it: the spec asks the
    /// receiver not to answer a cancelled request.
    public func handle(request: JSONRPCRequest, session: MCPSession, outbound: any MCPOutbound) async -> JSONValue? {
        let start = ContinuousClock.now
        let response = await respond(to: request, session: session, outbound: outbound)
        let errorCode = response?["error"]?["code"]?.intValue.map(Int.init)
        let method = Self.knownMethods.contains(request.method) ? request.method : "other"
        observer?.requestFinished(method: method, transport: session.transport, duration: ContinuousClock.now - start, errorCode: errorCode)
        return response
    }

    // MARK: - Methods

    private func respond(to request: JSONRPCRequest, session: MCPSession, outbound: any MCPOutbound) async -> JSONValue? {
        let id = request.id
        func error(_ code: JSONRPCErrorCode, _ message: String, data: JSONValue? = nil) -> JSONValue {
            JSONRPCError(id: id, code: code, message: message, data: data).response
        }

        // A stateless (2026-07-28) request names its version in `_meta`, or its transport
        // read it from the request's header (``MCPSession/requestVersion``).
        // A session-era version in `_meta` (a client that speaks both eras may name it there)
        // means nothing to the session era: its rules answer, not a -32022.
        var stateless = false
        if let versionValue = request.meta?[ProtocolVersion.metaKey] ?? session.requestVersion.map(JSONValue.string),
           !(session.requestVersion == nil && versionValue.stringValue.map(ProtocolVersion.sessionEra.contains) == true) {
            guard let version = versionValue.stringValue else {
                return error(.invalidParams, "Invalid params: \(ProtocolVersion.metaKey) must be a string")
            }
            guard ProtocolVersion.statelessEra.contains(version) else {
                return error(.unsupportedProtocolVersion, "Unsupported protocol version", data: [
                    "requested": .string(version),
                    "supported": .array(configuration.supportedVersions.map(JSONValue.string)),
                ])
            }
            stateless = true
            if let problem = ProtocolVersion.missingRequestFields(request.params["_meta"]) { return error(.invalidParams, problem) }
            // 2026-07-28 changelog item 5 removed ping and logging/setLevel.
            guard Self.statelessMethods.contains(request.method) else {
                return error(.methodNotFound, "Method not found: \(request.method.prefix(100))")
            }
        }

        if !stateless, session.requiresInitialize, !session.isInitialized, !Self.beforeInitialize.contains(request.method) {
            return error(.invalidRequest, "Invalid Request: the session is not initialized; send initialize first")
        }

        let result: Result<JSONValue, JSONRPCError>
        switch request.method {
        case "initialize" where !stateless:
            result = initialize(request, session: session)
        case "ping":
            result = .success([:])
        case "server/discover":
            result = .success(discover())
        case "tools/list":
            result = listTools(request, session: session, stateless: stateless)
        case "tools/call":
            guard let value = await callTool(request, session: session, outbound: outbound, stateless: stateless) else {
                return nil
            }
            result = value
        case "logging/setLevel":
            result = setLevel(request, session: session)
        // The Go server's API answered these, and its clients call them: this server offers
        // no resources (and declares no resources capability), so the lists are empty and
        // every read is server/resources.mdx's "Resource not found".
        case "resources/list":
            result = .success(["resources": []])
        case "resources/templates/list":
            result = .success(["resourceTemplates": []])
        case "resources/read":
            guard let uri = request.params["uri"]?.stringValue else {
                result = .failure(JSONRPCError(id: id, code: .invalidParams, message: "Invalid params: \"uri\" must be a string"))
                break
            }
            result = .failure(JSONRPCError(id: id, code: .resourceNotFound, message: "Resource not found", data: ["uri": .string(String(uri.prefix(200)))]))
        default:
            result = .failure(JSONRPCError(id: id, code: .methodNotFound, message: "Method not found: \(request.method.prefix(100))"))
        }

        // Consumed: `result` would otherwise keep a second reference to the object, and the
        // first key added below would copy its entries.
        switch consume result {
        case .success(var value):
            if stateless, case .object(var object) = value {
                // `object` is then the result's only reference: the keys are added in place,
                // not to a copy of its entries.
                value = .null
                object["resultType"] = "complete"
                if case .object(var meta)? = object["_meta"] {
                    meta[ProtocolVersion.serverInfoKey] = identityJSON
                    object["_meta"] = .object(meta)
                } else {
                    object["_meta"] = serverInfoMeta
                }
                value = .object(object)
            }
            return jsonRPCResult(id: id, value)
        case .failure(let failure):
            return failure.response
        }
    }

    private var capabilities: JSONValue {
        ["tools": ["listChanged": false], "logging": [:]]
    }

    /// 2025-11-25 basic/lifecycle.mdx "Initialization" and "Version Negotiation".
    private func initialize(_ request: JSONRPCRequest, session: MCPSession) -> Result<JSONValue, JSONRPCError> {
        let params = request.params
        guard let requested = params["protocolVersion"]?.stringValue else {
            return .failure(JSONRPCError(id: request.id, code: .invalidParams, message: "Invalid params: \"protocolVersion\" must be a string"))
        }
        if let capabilities = params["capabilities"], capabilities.objectValue == nil {
            return .failure(JSONRPCError(id: request.id, code: .invalidParams, message: "Invalid params: \"capabilities\" must be an object"))
        }
        let version = ProtocolVersion.negotiate(requested: requested, newest: configuration.newestSessionVersion)
        guard session.beginInitialize(version: version, clientInfo: params["clientInfo"]) else {
            return .failure(JSONRPCError(id: request.id, code: .invalidRequest, message: "Invalid Request: the session is already initialized"))
        }
        var result: JSONObject = [
            "protocolVersion": .string(version),
            "capabilities": capabilities,
            "serverInfo": configuration.identity.json,
        ]
        if let instructions = configuration.identity.instructions { result["instructions"] = .string(instructions) }
        return .success(.object(result))
    }

    /// 2026-07-28 server/discover.mdx.
    private func discover() -> JSONValue {
        var result: JSONObject = [
            "supportedVersions": .array(configuration.supportedVersions.map(JSONValue.string)),
            "capabilities": capabilities,
            "ttlMs": .int(Int64(configuration.listTTL.components.seconds * 1000)),
            "cacheScope": "public",
        ]
        if let instructions = configuration.identity.instructions { result["instructions"] = .string(instructions) }
        return .object(result)
    }

    /// 2025-11-25 server/tools.mdx "Listing Tools" with pagination
    /// (server/utilities/pagination.mdx: an invalid cursor is -32602).
    private func listTools(_ request: JSONRPCRequest, session: MCPSession, stateless: Bool) -> Result<JSONValue, JSONRPCError> {
        var cursor: String?
        switch request.params["cursor"] {
        case nil, .null?: cursor = nil
        case .string(let s)?: cursor = s
        default:
            return .failure(JSONRPCError(id: request.id, code: .invalidParams, message: "Invalid params: \"cursor\" must be a string"))
        }
        let page: (tools: [ToolDefinition], nextCursor: String?)
        do {
            page = try registry.page(cursor: cursor, pageSize: configuration.pageSize, allowsWrites: session.allowsWrites)
        } catch {
            return .failure(JSONRPCError(id: request.id, code: .invalidParams, message: "Invalid params: unknown or expired cursor"))
        }
        var result: JSONObject = ["tools": .array(page.tools.map(registry.listing(of:)))]
        if let next = page.nextCursor { result["nextCursor"] = .string(next) }
        if stateless {
            result["ttlMs"] = .int(Int64(configuration.listTTL.components.seconds * 1000))
            // The list depends on the token's scopes, so no shared cache may reuse it.
            result["cacheScope"] = "private"
        }
        return .success(.object(result))
    }

    /// 2025-11-25 server/utilities/logging.mdx.
    private func setLevel(_ request: JSONRPCRequest, session: MCPSession) -> Result<JSONValue, JSONRPCError> {
        guard let name = request.params["level"]?.stringValue, let level = LogLevel(rawValue: name) else {
            let names = LogLevel.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure(JSONRPCError(id: request.id, code: .invalidParams, message: "Invalid params: \"level\" must be one of \(names)"))
        }
        session.setLogLevel(level)
        return .success([:])
    }

    /// 2025-11-25 server/tools.mdx "Calling Tools" and "Error Handling": an unknown tool is a
    /// protocol error (-32602); bad arguments and failures are results with `isError`.
    /// Returns nil when the client cancelled the call.
    private func callTool(_ request: JSONRPCRequest, session: MCPSession, outbound: any MCPOutbound, stateless: Bool) async -> Result<JSONValue, JSONRPCError>? {
        let id = request.id
        guard let name = request.params["name"]?.stringValue else {
            return .failure(JSONRPCError(id: id, code: .invalidParams, message: "Invalid params: \"name\" must be a string"))
        }
        let arguments: JSONObject
        switch request.params["arguments"] {
        case nil, .null?: arguments = JSONObject()
        case .object(let o)?: arguments = o
        case let other?:
            return .failure(JSONRPCError(id: id, code: .invalidParams, message: "Invalid params: \"arguments\" must be an object, found \(other.typeName)"))
        }
        // A read-only caller does not see writing tools, so for it they do not exist.
        guard let tool = registry.tool(named: name), session.allowsWrites || !tool.writes else {
            return .failure(JSONRPCError(id: id, code: .invalidParams, message: "Unknown tool: \(name.prefix(100))"))
        }
        let start = ContinuousClock.now
        if let problem = ToolInputValidator.validate(arguments, against: tool.inputSchema) {
            observer?.toolCallFinished(tool: tool.name, outcome: .invalidArguments, duration: ContinuousClock.now - start)
            return .success(ToolResult.error("Invalid arguments for \(tool.name): \(problem)").json)
        }

        // Caps on concurrent and frequent calls: a protocol-level refusal (the call never
        // ran), carrying the HTTP status and Retry-After for transports that have them.
        let caller = session.principal?.name
        // What the request keeps while the call runs (in a batch, what all of the batch keeps),
        // walked only where it is charged.
        let requestBytes = admission == nil ? 0 : Self.batchHeldBytes ?? JSONValue.heldBytes(of: request.params)
        if let admission {
            switch admission.admit(caller: caller, tool: tool.name, requestBytes: requestBytes) {
            case .admitted: break
            case .refused(let message, let status, let retryAfter):
                return .failure(JSONRPCError(id: id, code: JSONRPCErrorCode.refusal(status: status, statelessEra: stateless), message: message,
                                             data: ["httpStatus": .int(Int64(status)), "retryAfter": .int(Int64(retryAfter))]))
            }
        }
        defer { admission?.release(caller: caller, requestBytes: requestBytes) }
        let timeout = tool.timeout ?? configuration.defaultToolTimeout
        let context = {
            var context = makeContext(for: tool, request: request, session: session, outbound: outbound, stateless: stateless)
            // From the call's start, a little before the deadline table's: a tool answering
            // with what it has must be done before the table cancels it.
            context.setDeadline(timeout, from: start)
            return context
        }()
        let handler = tool.handler
        let toolArguments = ToolArguments(arguments)
        let inline = session.callsInline
        let control: CallControl = inline ? .inline() : .ownTask()
        defer { control.finish() }
        // The id and the in-flight slot are taken before anything runs: a refused call is
        // answered as never having run, so it must not have started.
        switch session.track(id, cancel: { control.cancel() }) {
        case .tracked: break
        case .duplicate:
            return .failure(JSONRPCError(id: id, code: .invalidRequest, message: "Invalid Request: request id \(id) is already in use"))
        case .full:
            // Not counted: over HTTP the token's in-flight cap (the same number) refuses first,
            // with its own count; only stdio, which has no metrics, reaches this.
            return .failure(JSONRPCError(id: id, code: JSONRPCErrorCode.refusal(status: 429, statelessEra: stateless),
                                         message: "Too many requests in flight on this session (max \(session.maxInFlight))"))
        case .closed, .cancelledBeforeStart:
            // The transport went away before the call started, or the client cancelled it:
            // nobody is left to answer, or nobody wants the answer (cancellation.mdx).
            observer?.toolCallFinished(tool: tool.name, outcome: .cancelled, duration: ContinuousClock.now - start)
            return nil
        }
        // The deadline is an entry in a table with one shared dispatch timer, not a sleeping
        // task: a cancelled Task.sleep keeps its memory until it would have fired, which at
        // 60 s and thousands of calls a second is megabytes; a removed entry is freed at once.
        let timer = deadlines.schedule(after: timeout) { control.deadlineReached() }
        defer { deadlines.cancel(timer) }
        let (result, outcome): (ToolResult, ToolCallOutcome)
        if inline {
            (result, outcome) = await Self.run(handler, arguments: toolArguments, context: context, control: control, timeout: timeout, toolName: tool.name)
        } else {
            // A cancel of this request's own task (the connection closed) before the start
            // was not seen by `control`: pass it on so the handler never begins.
            if Task.isCancelled { control.cancel() }
            if let task = control.start({
                await Self.run(handler, arguments: toolArguments, context: context, control: control, timeout: timeout, toolName: tool.name)
            }) {
                (result, outcome) = await withTaskCancellationHandler {
                    await task.value
                } onCancel: {
                    task.cancel()
                }
            } else {
                // Cancelled (by the client, the connection or the deadline) before it started.
                (result, outcome) = Self.cancelled(control: control, timeout: timeout, toolName: tool.name)
            }
        }
        let cancelledByClient = session.untrack(id)
        observer?.toolCallFinished(tool: tool.name, outcome: cancelledByClient ? .cancelled : outcome, duration: ContinuousClock.now - start)
        if cancelledByClient { return nil }
        if let limit = result.limitReached { observer?.toolLimitReached(tool: tool.name, limit: limit) }
        return .success(result.json)
    }

    /// Where work done for the current request in unstructured tasks runs (a tool call's task,
    /// whose deadline cancels it; a transport's task that answers on a stream): the executor
    /// the request's own task prefers (a server running requests on their connection's event
    /// loop sets it), else the global pool. Unstructured tasks inherit task-locals but not an
    /// executor preference, so each such task passes this one on.
    @TaskLocal public static var requestExecutor: (any TaskExecutor)?

    /// Runs a handler; errors become `isError` results, and a cancellation the deadline
    /// caused becomes a timeout.
    static func run(_ handler: @escaping ToolDefinition.Handler, arguments: ToolArguments, context: ToolContext, control: CallControl, timeout: Duration, toolName: String) async -> (ToolResult, ToolCallOutcome) {
        // Built only when the deadline fired: a message and its content array on every call
        // otherwise.
        var timedOut: (ToolResult, ToolCallOutcome) { (.error("\(toolName) timed out after \(timeout.formattedSeconds)"), .timeout) }
        do {
            let result = try await handler(arguments, context)
            // A partial answer made for the deadline (``ToolLimit/deadline``) is kept even if
            // it came just after it: on a loaded host the handler's last step can pass the
            // reserve ``ToolContext`` keeps for it, and the pages it read are still worth more
            // than a timeout.
            if control.deadlineFired, result.limitReached != .deadline { return timedOut }
            return (result, result.isError ? .error : .ok)
        } catch let error as ToolError {
            if control.deadlineFired { return timedOut }
            var result = ToolResult.error(error.message)
            if error.kind == .tooLarge { result.limitReached = .backendResponseBytes }
            return (result, error.kind == .invalidArgument ? .invalidArguments : (error.kind == .timeout ? .timeout : .error))
        } catch is CancellationError {
            return cancelled(control: control, timeout: timeout, toolName: toolName)
        } catch {
            if control.deadlineFired { return timedOut }
            return (.error("\(toolName) failed: internal error"), .error)
        }
    }

    /// The answer of a call that was cancelled: a timeout if its deadline did it.
    static func cancelled(control: CallControl, timeout: Duration, toolName: String) -> (ToolResult, ToolCallOutcome) {
        control.deadlineFired ? (.error("\(toolName) timed out after \(timeout.formattedSeconds)"), .timeout) : (.error("\(toolName) was cancelled"), .cancelled)
    }

    private func makeContext(for tool: ToolDefinition, request: JSONRPCRequest, session: MCPSession, outbound: any MCPOutbound, stateless: Bool) -> ToolContext {
        let id = request.id
        var progress: ToolContext.ProgressSink?
        if let token = request.progressToken {
            // 2025-11-25 basic/utilities/progress.mdx: progress MUST increase with each notification.
            let last = Mutex<Double?>(nil)
            progress = { value, total, message in
                // A cancelled call (by the client, or past its deadline) sends nothing more: its
                // token refers to an operation no longer in progress (progress.mdx), and a
                // cancelled request gets no further messages (2026-07-28 stdio.mdx "Cancellation").
                guard !Task.isCancelled else { return }
                let accept = last.withLock { previous -> Bool in
                    if let previous, value <= previous { return false }
                    previous = value
                    return true
                }
                guard accept else { return }
                var params: JSONObject = ["progressToken": token, "progress": .double(value)]
                if let total { params["total"] = .double(total) }
                if let message { params["message"] = .string(message) }
                await outbound.send(jsonRPCNotification(method: "notifications/progress", params: .object(params)), relatedTo: id)
            }
        }
        // Stateless requests set their level per request; session-era clients with
        // logging/setLevel. Without either, the server sends no log notifications
        // (2026-07-28 server/utilities/logging.mdx forbids them). A stateless request never
        // falls back to its session's level: on stdio the session outlives its requests.
        let threshold: LogLevel? = stateless
            ? request.meta?[ProtocolVersion.logLevelKey]?.stringValue.flatMap(LogLevel.init(rawValue:))
            : nil
        let toolName = tool.name
        let log: ToolContext.LogSink = { level, message in
            guard !Task.isCancelled, let minimum = stateless ? threshold : session.logLevel, level >= minimum else { return }
            let params: JSONObject = ["level": .string(level.rawValue), "logger": .string(toolName), "data": .string(message)]
            await outbound.send(jsonRPCNotification(method: "notifications/message", params: .object(params)), relatedTo: id)
        }
        return ToolContext(toolName: tool.name, caller: session.principal?.name, allowsWrites: session.allowsWrites, progress: progress, log: log)
    }
}

extension ToolDefinition {
    /// The `Tool` object of `tools/list`.
    public var listing: JSONValue {
        var object: JSONObject = ["name": .string(name)]
        if let title { object["title"] = .string(title) }
        object["description"] = .string(description)
        object["inputSchema"] = inputSchema
        if let outputSchema { object["outputSchema"] = outputSchema }
        object["annotations"] = annotations.json
        return .object(object)
    }
}

extension ToolResult {
    /// The `CallToolResult` object.
    /// Made from one literal, whose room for two more keys takes the `resultType` and
    /// `_meta` of a stateless answer without growing.
    public var json: JSONValue {
        let content = JSONValue.array(content.map(\.json))
        guard let structuredContent else { return ["content": content, "isError": .bool(isError)] }
        return ["content": content, "structuredContent": structuredContent, "isError": .bool(isError)]
    }
}

extension ToolContent {
    public var json: JSONValue {
        switch self {
        case .text(let text): ["type": "text", "text": .string(text)]
        case .image(let data, let mimeType): ["type": "image", "data": .string(data), "mimeType": .string(mimeType)]
        }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// "2.5s", for messages.
    public var formattedSeconds: String {
        let (seconds, attoseconds) = components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return millis % 1000 == 0 ? "\(millis / 1000)s" : "\(Double(millis) / 1000)s"
    }
}

extension JSONRPCInbound {
    /// A `tools/call` request: what a batch's held bytes are charged to.
    var isToolCall: Bool {
        if case .request(let request) = self { request.method == "tools/call" } else { false }
    }
}
