import MCPCore
import NIOHTTP1

/// The Portainer tools (Portainer API with the Docker Engine API proxied under
/// `/api/endpoints/{id}/docker`), authenticated with `X-API-Key`.
enum PortainerTools {
    static func make(_ backend: Backend, format: ResultFormatter) -> [ToolDefinition] {
        let endpoint = ("endpoint_id", Schema.integer("Portainer environment (endpoint) id", default: 1, minimum: 1))
        let container = ("container_id", Schema.string("Container id or name", maxLength: 256))
        @Sendable func docker(_ arguments: ToolArguments) throws(ToolError) -> String {
            "/api/endpoints/\(try arguments.optionalPositiveID("endpoint_id", default: 1))/docker"
        }
        func action(_ verb: String, _ title: String, _ done: String, _ annotations: ToolAnnotations, _ description: String) -> ToolDefinition {
            ToolDefinition(
                name: "portainer_\(verb)_container", title: "\(title) a container",
                description: description,
                inputSchema: Schema.object([endpoint, container], required: ["container_id"]),
                outputSchema: Schema.object([
                    ("container_id", ["type": "string"]), ("action", ["type": "string"]), ("result", ["type": "string"]),
                ], required: ["container_id", "action", "result"]),
                annotations: annotations
            ) { arguments, context in
                let id = try arguments.identifier("container_id")
                let path = "\(try docker(arguments))/containers/\(PercentEncoding.encode(id))/\(verb)"
                // Docker answers 204 when done and 304 when the container already was in that
                // state, and a stop waits out the container's grace period (10 s by default, often
                // minutes for a database): the call's whole time is given, not `timeout.http`.
                // A timeout then says the action may still finish, so it is not simply retried
                // (a second restart).
                let response: BackendResponse
                do {
                    response = try await backend.send(.POST, path, accept: [304], waiting: context.backendTimeLeft.map { max($0, .seconds(1)) })
                } catch let error as ToolError where error.kind == .timeout && verb != "start" {
                    throw ToolError(.timeout, "\(error.message); Docker may still be \(verb == "stop" ? "stopping" : "restarting") the container (its stop grace period): check it with portainer_inspect_container before trying again")
                }
                return .json([
                    "container_id": .string(id), "action": .string(verb),
                    "result": .string(response.status == 304 ? "already \(done)" : done),
                ])
            }
        }
        return [
            ToolDefinition(
                name: "portainer_list_endpoints", title: "Portainer environments",
                description: "List the Portainer environments (endpoints) and their ids.",
                inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/api/endpoints"))
            },
            ToolDefinition(
                name: "portainer_list_containers", title: "Containers",
                description: "List all containers (running and stopped) of an environment.",
                inputSchema: Schema.object([endpoint]), annotations: .readOnly
            ) { arguments, _ in
                format.json(try await backend.json(.GET, "\(try docker(arguments))/containers/json", query: [("all", "1")]))
            },
            ToolDefinition(
                name: "portainer_inspect_container", title: "Inspect a container",
                description: "Full configuration and state of one container.",
                inputSchema: Schema.object([endpoint, container], required: ["container_id"]), annotations: .readOnly
            ) { arguments, _ in
                let id = try arguments.identifier("container_id")
                return format.json(try await backend.json(.GET, "\(try docker(arguments))/containers/\(PercentEncoding.encode(id))/json"))
            },
            action("start", "Start", "started", ToolAnnotations(readOnlyHint: false, destructiveHint: false, idempotentHint: true), "Start a stopped container."),
            action("stop", "Stop", "stopped", ToolAnnotations(readOnlyHint: false, destructiveHint: true, idempotentHint: true), "Stop a running container."),
            action("restart", "Restart", "restarted", ToolAnnotations(readOnlyHint: false, destructiveHint: true, idempotentHint: false), "Restart a container (it is briefly down)."),
            ToolDefinition(
                name: "portainer_get_container_logs", title: "Container logs",
                description: "The last lines of a container's stdout and stderr, as plain text.",
                inputSchema: Schema.object([
                    endpoint, container,
                    ("tail", Schema.integer("Number of lines from the end", default: 100, minimum: 1, maximum: 10000)),
                ], required: ["container_id"]),
                annotations: .readOnly
            ) { arguments, context in
                let id = try arguments.identifier("container_id")
                let tail = try arguments.intInRange("tail", default: 100, 1...10000)
                let path = "\(try docker(arguments))/containers/\(PercentEncoding.encode(id))/logs"
                await context.progress(0, total: 1, message: "fetching logs")
                let response: BackendResponse
                do {
                    // Redacted once taken apart: replacing a credential inside a frame first
                    // made its length header wrong, and the frames after it came out as binary.
                    response = try await backend.send(.GET, path, query: [("stdout", "1"), ("stderr", "1"), ("tail", String(tail))],
                                                      redacting: false)
                } catch let error as ToolError where error.kind == .tooLarge {
                    // Docker sends the lines oldest first: past the cap there is no newest part
                    // to keep, but the caller can ask for fewer.
                    throw ToolError(.tooLarge, "\(error.message): \(tail) lines are too many for this container; ask for fewer with a smaller 'tail'")
                }
                await context.progress(1, total: 1, message: "done")
                // The newest lines are why one asks for a tail: a cut keeps those.
                var text = Array(DockerLogStream.demultiplex(response.body).utf8)
                backend.redactSecrets(&text)
                return format.tail(String(decoding: text, as: UTF8.self))
            },
            ToolDefinition(
                name: "portainer_list_stacks", title: "Stacks",
                description: "List the stacks Portainer manages.", inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/api/stacks"))
            },
            ToolDefinition(
                name: "portainer_get_stack", title: "Stack",
                description: "One stack by id.",
                inputSchema: Schema.object([("stack_id", Schema.integer("Stack id", minimum: 1))], required: ["stack_id"]),
                annotations: .readOnly
            ) { arguments, _ in
                format.json(try await backend.json(.GET, "/api/stacks/\(try arguments.positiveID("stack_id"))"))
            },
            ToolDefinition(
                name: "portainer_get_stack_file", title: "Stack file",
                description: "The compose file of a stack.",
                inputSchema: Schema.object([("stack_id", Schema.integer("Stack id", minimum: 1))], required: ["stack_id"]),
                annotations: .readOnly
            ) { arguments, _ in
                format.json(try await backend.json(.GET, "/api/stacks/\(try arguments.positiveID("stack_id"))/file"))
            },
            ToolDefinition(
                name: "portainer_get_status", title: "Portainer status",
                description: "Portainer's version and instance id.", inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/api/system/status"))
            },
        ]
    }
}
