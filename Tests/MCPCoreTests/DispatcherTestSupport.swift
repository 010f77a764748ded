import Synchronization
@testable import MCPCore

/// Collects what the dispatcher sends on its own (progress, log messages).
final class RecordingOutbound: MCPOutbound {
    let messages = Mutex<[(JSONValue, JSONRPCID?)]>([])
    func send(_ message: JSONValue, relatedTo request: JSONRPCID?) async {
        messages.withLock { $0.append((message, request)) }
    }
    var sent: [(JSONValue, JSONRPCID?)] { messages.withLock { $0 } }
}

/// Records the input caps the dispatcher reports refusals at, and the caps tool calls reach.
final class RecordingObserver: MCPObserver {
    let caps = Mutex<[InputCap]>([])
    let toolLimits = Mutex<[String]>([])
    func requestFinished(method: String, transport: String, duration: Duration, errorCode: Int?) {}
    func toolCallFinished(tool: String, outcome: ToolCallOutcome, duration: Duration) {}
    func inputRefused(at cap: InputCap) { caps.withLock { $0.append(cap) } }
    func toolLimitReached(tool: String, limit: ToolLimit) { toolLimits.withLock { $0.append("\(tool):\(limit.rawValue)") } }
    var refused: [InputCap] { caps.withLock { $0 } }
    var limitsReached: [String] { toolLimits.withLock { $0 } }
}

struct Harness {
    let dispatcher: MCPDispatcher
    let session: MCPSession
    let outbound = RecordingOutbound()
    let observer = RecordingObserver()

    init(tools: [ToolDefinition] = [Harness.echo], pageSize: Int = 50, session: MCPSession = MCPSession(transport: "test"), timeout: Duration = .seconds(5), limits: JSONParser.Limits = .init(),
         maxBatch: Int = 64, maxBatchAnswerBytes: Int = 8 << 20) {
        dispatcher = MCPDispatcher(
            configuration: .init(identity: ServerIdentity(name: "test-server", version: "9.9"), pageSize: pageSize, defaultToolTimeout: timeout, jsonLimits: limits,
                                 maxBatch: maxBatch, maxBatchAnswerBytes: maxBatchAnswerBytes),
            registry: ToolRegistry(tools), observer: observer)
        self.session = session
    }

    /// Sends raw text; returns the parsed response or nil.
    func send(_ text: String) async -> JSONValue? {
        guard let bytes = await dispatcher.handle(bytes: Array(text.utf8), session: session, outbound: outbound) else { return nil }
        return try! JSONParser.parse(bytes)
    }

    func request(_ method: String, id: Int64 = 1, params: JSONValue? = nil) async -> JSONValue? {
        var message: JSONObject = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
        if let params { message["params"] = params }
        return await send(JSONValue.object(message).serializedString())
    }

    func initialize(version: String = "2025-11-25") async {
        _ = await request("initialize", id: 0, params: ["protocolVersion": .string(version), "capabilities": [:], "clientInfo": ["name": "t", "version": "1"]])
        _ = await send(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
    }

    static let echo = ToolDefinition(
        name: "echo",
        description: "Echo a message.",
        inputSchema: ["type": "object", "properties": ["message": ["type": "string"], "times": ["type": "integer", "minimum": 1]], "required": ["message"], "additionalProperties": false],
        annotations: .readOnly
    ) { arguments, _ in
        .text(try arguments.string("message"))
    }

    static func named(_ name: String, writes: Bool = false) -> ToolDefinition {
        ToolDefinition(name: name, description: name, annotations: writes ? .write : .readOnly) { _, _ in .text(name) }
    }
}

extension JSONValue {
    var errorCode: Int64? { self["error"]?["code"]?.intValue }
}
