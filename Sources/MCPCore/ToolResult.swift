/// What a tool returns: content for the model, optional structured content for programs,
/// and whether it failed.
///
/// A failure of the tool itself (bad argument, backend down, backend said 404) is a result
/// with `isError: true`, never a JSON-RPC error: the model must see it to correct itself
/// (MCP 2025-11-25 server/tools.mdx "Error Handling").
public struct ToolResult: Sendable, Hashable {
    public var content: [ToolContent]
    /// Must be a JSON object when present (MCP 2025-06-18 `CallToolResult.structuredContent`).
    public var structuredContent: JSONValue?
    public var isError: Bool
    /// The cap the call reached, if any: counted, never sent.
    public var limitReached: ToolLimit?

    public init(content: [ToolContent], structuredContent: JSONValue? = nil, isError: Bool = false, limitReached: ToolLimit? = nil) {
        self.content = content
        self.structuredContent = structuredContent
        self.isError = isError
        self.limitReached = limitReached
    }

    /// A JSON result: the text content is the compact JSON serialization (real JSON, never a
    /// debug rendering), and an object is also given as `structuredContent`, serialized only
    /// once: the object keeps the text (``JSONObject/preserialized()``), and the answer
    /// copies its bytes.
    public static func json(_ value: JSONValue) -> ToolResult {
        guard case .object(let object) = value else { return ToolResult(content: [.text(value.serializedString())]) }
        let structured = object.preserialized()
        return ToolResult(content: [.text(structured.serializedText ?? "")], structuredContent: .object(structured))
    }

    public static func text(_ text: String) -> ToolResult {
        ToolResult(content: [.text(text)])
    }

    public static func error(_ message: String, structuredContent: JSONValue? = nil) -> ToolResult {
        ToolResult(content: [.text(message)], structuredContent: structuredContent, isError: true)
    }
}

/// One content block of a tool result.
public enum ToolContent: Sendable, Hashable {
    case text(String)
    /// Base64 data with its MIME type.
    case image(data: String, mimeType: String)
}

/// A failure a tool reports. The dispatcher renders it as an `isError` result whose text is
/// ``message``; the kind is kept for metrics and logs.
public struct ToolError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case invalidArgument = "invalid_argument"
        case backendStatus = "backend_status"
        case timeout
        case unreachable
        case tls
        case tooLarge = "too_large"
        case badResponse = "bad_response"
        case internalError = "internal"
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public static func invalidArgument(_ name: String, _ reason: String) -> ToolError {
        ToolError(.invalidArgument, "invalid argument '\(name)': \(reason)")
    }

    public var description: String { message }
}
