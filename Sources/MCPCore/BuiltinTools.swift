/// Tools the server offers itself, whatever backends are configured.
public enum BuiltinTools {
    /// `server_status`: the server's identity, uptime, protocol versions, tool count and the
    /// caller's own view (token name, session count). Read-only; useful to check a
    /// deployment from the agent's side. `snapshot` supplies the live figures.
    public static func serverStatus(snapshot: @escaping @Sendable () async -> JSONObject) -> ToolDefinition {
        ToolDefinition(
            name: "server_status",
            title: "Server status",
            description: "Report this MCP server's name, version, uptime, supported protocol versions, registered tool count and live session figures. Takes no arguments.",
            inputSchema: ["type": "object", "properties": [:], "additionalProperties": false],
            outputSchema: [
                "type": "object",
                "properties": [
                    "name": ["type": "string"],
                    "version": ["type": "string"],
                    "uptime_seconds": ["type": "number"],
                    "protocol_versions": ["type": "array", "items": ["type": "string"]],
                    "tools": ["type": "integer"],
                ],
                "required": ["name", "version", "uptime_seconds", "protocol_versions", "tools"],
            ],
            annotations: ToolAnnotations(title: "Server status", readOnlyHint: true, idempotentHint: true, openWorldHint: false),
            handler: { _, context in
                var status = await snapshot()
                if let caller = context.caller { status["caller"] = .string(caller) }
                return .json(.object(status))
            }
        )
    }
}
