/// JSON-RPC 2.0 message shapes (https://www.jsonrpc.org/specification), with the MCP
/// restrictions on top: request ids are strings or integers, never null
/// (MCP 2025-11-25 basic/index.mdx "Requests").

/// A request id. MCP forbids `null`; JSON-RPC discourages fractional numbers, and no MCP
/// client sends them, so they are refused as an invalid request.
public enum JSONRPCID: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int64)

    /// The longest string id read, in UTF-8 bytes. Clients send integers or UUIDs; an id of
    /// megabytes was echoed in every answer and error about its request, kept in the session's
    /// maps while the request ran, and in its replay buffer afterwards.
    public static let maxStringBytes = 256

    public var json: JSONValue {
        switch self {
        case .string(let s): .string(s)
        case .int(let i): .int(i)
        }
    }

    public var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .int(let i): String(i)
        }
    }

    init?(_ value: JSONValue) {
        switch value {
        case .string(let s): self = .string(s)
        case .int(let i): self = .int(i)
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: self = .int(Int64(d))
        default: return nil
        }
    }
}

/// The error codes of JSON-RPC 2.0 §5.1 and the MCP codes we answer with.
public enum JSONRPCErrorCode: Int, Sendable, Hashable {
    case parseError = -32700
    case invalidRequest = -32600
    case methodNotFound = -32601
    case invalidParams = -32602
    case internalError = -32603
    /// Implementation-defined server error (JSON-RPC -32000..-32099): used for overload and
    /// for the Go server's authentication failures.
    case serverError = -32000
    /// MCP server/resources.mdx "Error Handling": resource not found.
    case resourceNotFound = -32002
    /// MCP 2026-07-28 `HeaderMismatchError`.
    case headerMismatch = -32020
    /// MCP 2026-07-28 `UnsupportedProtocolVersionError`.
    case unsupportedProtocolVersion = -32022

    /// The code of a refusal by the server's own access control or limits (authentication,
    /// scope, a rate, a cap, shutdown), which the HTTP status already names.
    ///
    /// Session-era requests get -32000, as the Go server answered and its clients expect.
    /// 2026-07-28 basic/index.mdx "Error Codes" makes -32000…-32019 legacy ("new
    /// implementations SHOULD NOT use codes from this sub-range") and asks for new codes
    /// outside -32768…-32000, so a stateless-era request gets the HTTP status itself (401,
    /// 403, 429, 503): outside that range, and it means the same over stdio.
    public static func refusal(status: Int, statelessEra: Bool) -> Int {
        statelessEra ? status : serverError.rawValue
    }
}

/// A JSON-RPC error object plus the id it answers (`nil` renders as `"id": null`).
public struct JSONRPCError: Error, Sendable, Hashable {
    public var id: JSONRPCID?
    public var code: Int
    public var message: String
    public var data: JSONValue?
    /// The input cap the message was refused at, if that is why (not sent; counted).
    public var cap: InputCap?

    public init(id: JSONRPCID?, code: JSONRPCErrorCode, message: String, data: JSONValue? = nil, cap: InputCap? = nil) {
        self.init(id: id, code: code.rawValue, message: message, data: data, cap: cap)
    }

    public init(id: JSONRPCID?, code: Int, message: String, data: JSONValue? = nil, cap: InputCap? = nil) {
        self.id = id
        self.code = code
        self.message = message
        self.data = data
        self.cap = cap
    }

    /// The complete response message.
    public var response: JSONValue {
        var error: JSONObject = ["code": .int(Int64(code)), "message": .string(message)]
        if let data { error["data"] = data }
        return ["jsonrpc": "2.0", "id": id?.json ?? .null, "error": .object(error)]
    }
}

/// A request: it has an id and must be answered exactly once.
public struct JSONRPCRequest: Sendable, Hashable {
    public var id: JSONRPCID
    public var method: String
    public var params: JSONObject

    public init(id: JSONRPCID, method: String, params: JSONObject = JSONObject()) {
        self.id = id
        self.method = method
        self.params = params
    }

    /// `params._meta`, where MCP puts the progress token and, since 2026-07-28, the
    /// protocol version, client info and log level of a stateless request.
    public var meta: JSONObject? { params["_meta"]?.objectValue }

    /// `_meta.progressToken` when progress can be sent for it: a string of at most
    /// ``JSONRPCID/maxStringBytes`` (it is repeated in every notification and kept while the
    /// call runs, as a request id is) or an integer. Otherwise nil, and no progress is sent (a
    /// server may send none, progress.mdx), nor is a JSON answer made a stream for it.
    public var progressToken: JSONValue? {
        // No `? token : nil`: JSONValue takes a nil literal, and the ternary made it `.null`.
        guard let token = meta?["progressToken"] else { return nil }
        if let text = token.stringValue {
            guard text.utf8.count <= JSONRPCID.maxStringBytes else { return nil }
        } else {
            guard token.intValue != nil else { return nil }
        }
        return token
    }
}

/// One inbound message, classified. Notifications are never answered (JSON-RPC 2.0 §4.1),
/// not even with an error; responses from the client, well-formed or not, are accepted and
/// dropped (this server sends no requests of its own).
public enum JSONRPCInbound: Sendable, Hashable {
    case request(JSONRPCRequest)
    case notification(method: String, params: JSONObject)
    case response(id: JSONRPCID?)
    case invalid(JSONRPCError)

    /// Classifies one decoded JSON value.
    public init(_ value: JSONValue) {
        guard case .object(let object) = value else {
            self = .invalid(JSONRPCError(id: nil, code: .invalidRequest, message: "Invalid Request: a message must be a JSON object"))
            return
        }
        // Recover the id early so that errors about the rest of the message can name it.
        let rawID = object["id"]
        let idTooLong = if case .string(let s)? = rawID { s.utf8.count > JSONRPCID.maxStringBytes } else { false }
        let id = idTooLong ? nil : rawID.flatMap(JSONRPCID.init)
        func invalid(_ why: String) -> JSONRPCInbound {
            .invalid(JSONRPCError(id: id, code: .invalidRequest, message: "Invalid Request: \(why)"))
        }
        // A response (no method; a result or an error) is never answered, not even a broken
        // one: an error with `"id": null` is how a peer answers what it could not read
        // (§5), and answering a response could set two peers answering each other forever.
        if object["method"] == nil, object["result"] != nil || object["error"] != nil {
            self = .response(id: id)
            return
        }
        guard object["jsonrpc"] == .string("2.0") else {
            self = invalid("\"jsonrpc\" must be exactly \"2.0\"")
            return
        }
        if idTooLong {
            self = .invalid(JSONRPCError(
                id: nil, code: .invalidRequest,
                message: "Invalid Request: a string \"id\" may be at most \(JSONRPCID.maxStringBytes) bytes long"))
            return
        }
        if let rawID, id == nil {
            let found = rawID.isNull ? "null" : "a \(rawID.typeName)"
            self = .invalid(JSONRPCError(
                id: nil, code: .invalidRequest,
                message: "Invalid Request: \"id\" must be a string or an integer, found \(found)"))
            return
        }
        guard let methodValue = object["method"] else {
            self = invalid("\"method\" is missing")
            return
        }
        guard case .string(let method) = methodValue, !method.isEmpty else {
            self = invalid("\"method\" must be a non-empty string")
            return
        }
        if object["result"] != nil || object["error"] != nil {
            self = invalid("a request carries no \"result\" or \"error\"")
            return
        }
        let params: JSONObject
        switch object["params"] {
        case nil, .null?: params = JSONObject()
        case .object(let o)?: params = o
        case .array? where id == nil:
            // A notification is never answered (§4.1), not even for params MCP cannot read:
            // positional ones name nothing, so it is handled as one without params.
            params = JSONObject()
        case .array?:
            // MCP methods take named parameters only.
            self = .invalid(JSONRPCError(id: id, code: .invalidParams, message: "Invalid params: \"params\" must be an object"))
            return
        default:
            self = invalid("\"params\" must be an object")
            return
        }
        if let id {
            self = .request(JSONRPCRequest(id: id, method: method, params: params))
        } else {
            self = .notification(method: method, params: params)
        }
    }
}

/// The result of parsing a transport frame: one message, a batch (JSON-RPC 2.0 §6; MCP
/// 2025-03-26 allowed them, later revisions dropped them, we still accept them), or a
/// parse error that is answered with `id: null`.
public enum JSONRPCFrame: Sendable {
    case single(JSONRPCInbound)
    case batch([JSONRPCInbound])
    case parseError(JSONRPCError)

    /// The id of a lone request: an error about the request as a whole (its transport's
    /// checks) carries it, as basic/index.mdx asks of every error response whose request's
    /// id could be read.
    public var requestID: JSONRPCID? {
        if case .single(.request(let request)) = self { request.id } else { nil }
    }

    public static func parse(_ bytes: some Collection<UInt8>, limits: JSONParser.Limits) -> JSONRPCFrame {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes, limits: limits)
        } catch {
            let (message, cap): (String, InputCap?) = switch error.reason {
            case .tooLarge: ("Parse error: message larger than \(limits.maxBytes) bytes", .body)
            case .tooDeep: ("Parse error: JSON nested deeper than \(limits.maxDepth) levels", .jsonDepth)
            case .tooManyValues: ("Parse error: more than \(limits.maxValues) JSON values in one message", .jsonValues)
            default: ("Parse error: \(error)", nil)
            }
            return .parseError(JSONRPCError(id: nil, code: .parseError, message: message, cap: cap))
        }
        if case .array(let elements) = value {
            if elements.isEmpty {
                return .single(.invalid(JSONRPCError(id: nil, code: .invalidRequest, message: "Invalid Request: empty batch")))
            }
            return .batch(elements.map(JSONRPCInbound.init))
        }
        return .single(JSONRPCInbound(value))
    }
}

extension JSONValue {
    /// A short name of the JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// Builds a success response.
public func jsonRPCResult(id: JSONRPCID, _ result: JSONValue) -> JSONValue {
    ["jsonrpc": "2.0", "id": id.json, "result": result]
}

/// Builds a notification.
public func jsonRPCNotification(method: String, params: JSONValue) -> JSONValue {
    ["jsonrpc": "2.0", "method": .string(method), "params": params]
}
