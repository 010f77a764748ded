/// Tools the server offers itself, whatever backends are configured.
public enum BuiltinTools {
    /// `server_status`: the server's identity, uptime, protocol versions, tool count and the
    /// caller's own view (token name, session count). Read-only; useful to check a
    /// deployment from the agent's side. `snapshot` supplies the live figures, given whether
    /// the caller may use tools that write (a read-only token's `tools` counts the ones it sees).
    public static func serverStatus(snapshot: @escaping @Sendable (_ allowsWrites: Bool) async -> JSONObject) -> ToolDefinition {
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
                var status = await snapshot(context.allowsWrites)
                if let caller = context.caller { status["caller"] = .string(caller) }
                return .json(.object(status))
            }
        )
    }
}

extension BuiltinTools {
    /// `server_check_backends`: calls each configured backend's cheapest read-only tool
    /// (its health endpoint where it has one) and reports which answer. Sends a progress
    /// notification after each backend, so a client watching a slow backend sees movement.
    public static func checkBackends(probes: [(backend: String, tool: ToolDefinition)]) -> ToolDefinition {
        ToolDefinition(
            name: "server_check_backends",
            title: "Check backends",
            description: "Check that every configured backend (Grafana, Prometheus, Portainer, SilverBullet, Vikunja) answers, by calling its health or cheapest read-only endpoint. Reports progress per backend. Takes no arguments.",
            inputSchema: ["type": "object", "properties": [:], "additionalProperties": false],
            annotations: ToolAnnotations(title: "Check backends", readOnlyHint: true, idempotentHint: true, openWorldHint: true),
            handler: { _, context in
                var results: [JSONValue] = []
                let total = Double(probes.count)
                for (index, probe) in probes.enumerated() {
                    let started = ContinuousClock.now
                    let outcome: ToolResult
                    do {
                        outcome = try await probe.tool.handler(ToolArguments(), context)
                    } catch let error as ToolError {
                        outcome = .error(error.message)
                    }
                    let millis = (ContinuousClock.now - started).components
                    let elapsed = Double(millis.seconds) * 1000 + Double(millis.attoseconds) / 1e15
                    var entry: JSONObject = ["backend": .string(probe.backend), "ok": .bool(!outcome.isError), "ms": .double(elapsed.rounded())]
                    if outcome.isError, case .text(let text)? = outcome.content.first { entry["error"] = .string(String(text.prefix(300))) }
                    results.append(.object(entry))
                    await context.progress(Double(index + 1), total: total, message: "\(probe.backend): \(outcome.isError ? "failed" : "ok")")
                }
                let healthy = results.allSatisfy { $0["ok"] == true }
                return ToolResult(content: [.text(JSONValue.object(["backends": .array(results), "healthy": .bool(healthy)]).serializedString())],
                                  structuredContent: ["backends": .array(results), "healthy": .bool(healthy)], isError: false)
            }
        )
    }
}
