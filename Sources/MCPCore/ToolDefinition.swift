/// A tool the server offers: what `tools/list` shows and what `tools/call` runs.
///
/// The dispatcher validates the arguments against ``inputSchema`` before the handler runs,
/// enforces ``timeout`` (or the server default), caps the size of the result, and turns a
/// thrown ``ToolError`` (or any other error) into a result with `isError: true`. A handler
/// therefore only does its job: read its arguments, call its backend, return a result.
///
/// ```swift
/// ToolDefinition(
///     name: "prometheus_query",
///     description: "Evaluate an instant PromQL query.",
///     inputSchema: ["type": "object", "properties": ["query": ["type": "string"]], "required": ["query"]],
///     annotations: .readOnly
/// ) { arguments, context in
///     let query = try arguments.string("query")
///     return .json(try await client.get("/api/v1/query", query: ["query": query]))
/// }
/// ```
public struct ToolDefinition: Sendable {
    public typealias Handler = @Sendable (ToolArguments, ToolContext) async throws -> ToolResult

    public var name: String
    public var title: String?
    public var description: String
    /// A JSON Schema object (`"type": "object"`), with `properties` and `required`.
    public var inputSchema: JSONValue
    /// Declared only where the result's shape is stable (MCP 2025-06-18 and later).
    public var outputSchema: JSONValue?
    public var annotations: ToolAnnotations
    /// Overrides the server's default tool deadline.
    public var timeout: Duration?
    public var handler: Handler

    public init(
        name: String,
        title: String? = nil,
        description: String,
        inputSchema: JSONValue = ["type": "object", "properties": [:]],
        outputSchema: JSONValue? = nil,
        annotations: ToolAnnotations = ToolAnnotations(),
        timeout: Duration? = nil,
        handler: @escaping Handler
    ) {
        self.name = name
        self.title = title
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.annotations = annotations
        self.timeout = timeout
        self.handler = handler
    }

    /// A tool writes unless it says it only reads: read-only mode and `read` scopes hide or
    /// refuse every tool for which this is true.
    public var writes: Bool { annotations.readOnlyHint != true }
}

/// Hints for clients (MCP 2025-03-26 `ToolAnnotations`). They are hints, not guarantees;
/// the server itself relies only on `readOnlyHint` (read-only mode, token scopes).
public struct ToolAnnotations: Sendable, Hashable {
    public var title: String?
    public var readOnlyHint: Bool?
    public var destructiveHint: Bool?
    public var idempotentHint: Bool?
    public var openWorldHint: Bool?

    public init(
        title: String? = nil,
        readOnlyHint: Bool? = nil,
        destructiveHint: Bool? = nil,
        idempotentHint: Bool? = nil,
        openWorldHint: Bool? = nil
    ) {
        self.title = title
        self.readOnlyHint = readOnlyHint
        self.destructiveHint = destructiveHint
        self.idempotentHint = idempotentHint
        self.openWorldHint = openWorldHint
    }

    /// Reads only; calling it twice is the same as once.
    public static let readOnly = ToolAnnotations(readOnlyHint: true, idempotentHint: true)
    /// Changes something, but removes nothing.
    public static let write = ToolAnnotations(readOnlyHint: false, destructiveHint: false)
    /// Deletes or stops something.
    public static let destructive = ToolAnnotations(readOnlyHint: false, destructiveHint: true)

    /// The annotations as the `annotations` member of a `Tool` in `tools/list`.
    public var json: JSONValue {
        var object = JSONObject()
        if let title { object["title"] = .string(title) }
        if let readOnlyHint { object["readOnlyHint"] = .bool(readOnlyHint) }
        if let destructiveHint { object["destructiveHint"] = .bool(destructiveHint) }
        if let idempotentHint { object["idempotentHint"] = .bool(idempotentHint) }
        if let openWorldHint { object["openWorldHint"] = .bool(openWorldHint) }
        return .object(object)
    }
}
