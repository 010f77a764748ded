import MCPCore
import NIOHTTP1

/// The Vikunja tools (API v1, vikunja.io/docs/api). Vikunja creates with `PUT` and updates
/// with `POST`, and tasks live at `/api/v1/tasks/{id}` — the Go server had both wrong.
enum VikunjaTools {
    static func make(_ backend: Backend, format: ResultFormatter) -> [ToolDefinition] {
        let projectID = ("project_id", Schema.integer("Project id", minimum: 1))
        let taskID = ("task_id", Schema.integer("Task id", minimum: 1))
        let priority = ("priority", Schema.integer("Priority: 0 unset, 1 low … 5 do now", minimum: 0, maximum: 5))
        let description = ("description", Schema.string("Description (Markdown/HTML)", maxLength: 65536))
        // The Go server's task tools required the project too; its clients still send it. A
        // task's id alone names it (/api/v1/tasks/{id}), so it is accepted and not used.
        let taskProject = ("project_id", Schema.integer("The task's project (not needed; accepted for older clients)", minimum: 1))
        return [
            ToolDefinition(
                name: "vikunja_list_projects", title: "Vikunja projects",
                description: "List the projects the token can see.", inputSchema: Schema.object(), annotations: .readOnly
            ) { _, context in
                try await listAll(backend, "/api/v1/projects", format: format, context: context)
            },
            ToolDefinition(
                name: "vikunja_get_project", title: "Vikunja project",
                description: "One project by id.",
                inputSchema: Schema.object([projectID], required: ["project_id"]), annotations: .readOnly
            ) { arguments, _ in
                format.json(try await backend.json(.GET, "/api/v1/projects/\(try arguments.positiveID("project_id"))"))
            },
            ToolDefinition(
                name: "vikunja_create_project", title: "Create a Vikunja project",
                description: "Create a project.",
                inputSchema: Schema.object([("title", Schema.string("Project title", maxLength: 250)), description], required: ["title"]),
                annotations: .write
            ) { arguments, _ in
                var body: JSONObject = ["title": .string(try arguments.nonEmptyString("title"))]
                if let text = try arguments.optionalString("description") { body["description"] = .string(text) }
                return format.json(try await backend.json(.PUT, "/api/v1/projects", body: .object(body)))
            },
            ToolDefinition(
                name: "vikunja_list_tasks", title: "Vikunja tasks",
                description: "List the tasks of a project.",
                inputSchema: Schema.object([projectID], required: ["project_id"]), annotations: .readOnly
            ) { arguments, context in
                let project = try arguments.positiveID("project_id")
                return try await listTasks(backend, project: project, format: format, context: context)
            },
            ToolDefinition(
                name: "vikunja_create_task", title: "Create a Vikunja task",
                description: "Create a task in a project.",
                inputSchema: Schema.object([
                    projectID, ("title", Schema.string("Task title", maxLength: 250)), description, priority,
                    ("due_date", Schema.string("Due date, RFC 3339 (2026-01-02T15:04:05Z)", maxLength: 64)),
                ], required: ["project_id", "title"]),
                annotations: .write
            ) { arguments, _ in
                let project = try arguments.positiveID("project_id")
                var body: JSONObject = ["title": .string(try arguments.nonEmptyString("title"))]
                try applyOptionalFields(arguments, to: &body)
                return format.json(try await backend.json(.PUT, "/api/v1/projects/\(project)/tasks", body: .object(body)))
            },
            ToolDefinition(
                name: "vikunja_get_task", title: "Vikunja task",
                description: "One task by id.",
                inputSchema: Schema.object([taskID, taskProject], required: ["task_id"]), annotations: .readOnly
            ) { arguments, _ in
                format.json(try await backend.json(.GET, "/api/v1/tasks/\(try arguments.positiveID("task_id"))"))
            },
            ToolDefinition(
                name: "vikunja_update_task", title: "Update a Vikunja task",
                description: "Change a task's title, description, done flag or priority; other fields are kept.",
                inputSchema: Schema.object([
                    taskID, taskProject, ("title", Schema.string("New title", maxLength: 250)), description,
                    ("done", Schema.boolean("Mark done or not done")), priority,
                    ("due_date", Schema.string("Due date, RFC 3339", maxLength: 64)),
                ], required: ["task_id"]),
                annotations: ToolAnnotations(readOnlyHint: false, destructiveHint: false, idempotentHint: true)
            ) { arguments, _ in
                let id = try arguments.positiveID("task_id")
                var changes = JSONObject()
                if let title = try arguments.optionalString("title") {
                    guard !title.isEmpty else { throw ToolError.invalidArgument("title", "must not be empty") }
                    changes["title"] = .string(title)
                }
                if let done = try arguments.optionalBool("done") { changes["done"] = .bool(done) }
                try applyOptionalFields(arguments, to: &changes)
                guard !changes.isEmpty else {
                    throw ToolError.invalidArgument("title", "give at least one of title, description, done, priority, due_date")
                }
                // Vikunja's POST replaces the whole task (missing fields are reset), so the
                // current task is read first and only the given fields are changed. Read as it
                // is: it goes back to Vikunja, not to the model (the POST's answer does, redacted).
                guard case .object(var task) = try await backend.json(.GET, "/api/v1/tasks/\(id)", redacting: false) else {
                    throw ToolError(.badResponse, "vikunja: task \(id) is not a JSON object")
                }
                for (key, value) in changes { task[key] = value }
                return format.json(try await backend.json(.POST, "/api/v1/tasks/\(id)", body: .object(task)))
            },
            ToolDefinition(
                name: "vikunja_delete_task", title: "Delete a Vikunja task",
                description: "Delete a task.",
                inputSchema: Schema.object([taskID, taskProject], required: ["task_id"]), annotations: .destructive
            ) { arguments, _ in
                format.json(try await backend.json(.DELETE, "/api/v1/tasks/\(try arguments.positiveID("task_id"))"))
            },
        ]
    }

    static func applyOptionalFields(_ arguments: ToolArguments, to body: inout JSONObject) throws(ToolError) {
        if let text = try arguments.optionalString("description") { body["description"] = .string(text) }
        if let value = try arguments.optionalInt("priority") {
            guard (0...5).contains(value) else { throw .invalidArgument("priority", "must be between 0 and 5") }
            body["priority"] = .int(value)
        }
        if let due = try arguments.optionalString("due_date") {
            guard PrometheusTime.isRFC3339(due) else { throw .invalidArgument("due_date", "must be RFC 3339, e.g. 2026-01-02T15:04:05Z") }
            body["due_date"] = .string(due)
        }
    }

    /// `GET /projects/{id}/tasks` (Vikunja before 0.24); on 404, newer servers list tasks
    /// per view: the project's first list view is used.
    static func listTasks(_ backend: Backend, project: Int64, format: ResultFormatter, context: ToolContext) async throws(ToolError) -> ToolResult {
        let legacyPath = "/api/v1/projects/\(project)/tasks"
        let legacy = try await backend.send(.GET, legacyPath, query: [("page", "1")], accept: [404], extraHeaders: [("Accept", "application/json")])
        if legacy.status != 404 { return try await listAll(backend, legacyPath, first: legacy, format: format, context: context) }
        let views = try await backend.json(.GET, "/api/v1/projects/\(project)/views")
        let all = views.arrayValue ?? []
        let list = all.first { $0["view_kind"] == "list" || $0["view_kind"] == .int(0) } ?? all.first
        guard let view = list?["id"]?.intValue else {
            throw ToolError(.backendStatus, "vikunja returned HTTP 404 for the project's tasks and the project has no views")
        }
        return try await listAll(backend, "/api/v1/projects/\(project)/views/\(view)/tasks", format: format, context: context)
    }

    /// Pages fetched for one list at most: 20 of Vikunja's default 50 items.
    static let maxPages = 20

    /// Vikunja answers a list a page at a time (50 items by default) and gives the number of
    /// pages in `x-pagination-total-pages`: every page is fetched, up to ``maxPages`` and
    /// until the pages' bodies together reach the backend's response cap (each page alone is
    /// under it, but twenty of them held at once, parsed, were twenty times the memory one
    /// answer may take), and within the call's time (the pages after the first are bounded by
    /// what is left of it), and a list cut short says so. (Only the first page came back,
    /// silently.)
    static func listAll(
        _ backend: Backend, _ path: String, first: BackendResponse? = nil, format: ResultFormatter, context: ToolContext
    ) async throws(ToolError) -> ToolResult {
        let jsonHeaders = [("Accept", "application/json")]
        var response: BackendResponse
        if let first {
            response = first
        } else {
            response = try await backend.send(.GET, path, query: [("page", "1")], extraHeaders: jsonHeaders)
        }
        let pages = response.headers.first { $0.0.lowercased() == "x-pagination-total-pages" }.flatMap { Int($0.1) } ?? 1
        let firstPage = try backend.parse(response)
        guard case .array(var items) = firstPage, pages > 1 else { return format.json(firstPage) }
        var (fetched, bytes, outOfTime) = (1, response.body.count, false)
        // A later page that fails, whatever the reason (its own timeout, a status, too large,
        // malformed, a lost connection), ends the list with the pages read, naming why: it
        // used to lose them all.
        var failure: ToolError?
        while fetched < min(pages, maxPages), bytes < backend.maxResponseBytes {
            do throws(ToolError) {
                guard let next = try await backend.page(path, query: [("page", String(fetched + 1))], extraHeaders: jsonHeaders, context: context) else {
                    outOfTime = true
                    break
                }
                let more = try backend.parse(next).arrayValue ?? []
                fetched += 1
                bytes += next.body.count
                items += more
            } catch where !Task.isCancelled {
                failure = error
                break
            }
        }
        var result = format.json(.array(items))
        if fetched < pages {
            // A backend failure is counted before a result cut at its cap: it is the one an
            // operator must see, as the call itself succeeds.
            if let failure, failure.kind != .tooLarge {
                result.limitReached = .backendError
            } else if result.limitReached == nil {
                result.limitReached = outOfTime ? .deadline : failure != nil ? .backendResponseBytes : .backendPages
            }
            let why = outOfTime ? ": the call's time ran out" : failure.map { ": page \(fetched + 1) failed: \($0.message)" } ?? ""
            result.content.append(.text("[\(pages) pages in all; only the first \(fetched) (\(items.count) items) are listed\(why).]"))
        }
        return result
    }
}
