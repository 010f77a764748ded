import MCPCore
import Testing
@testable import Tools

/// Vikunja API v1 (tools-catalogue.md, Vikunja table).
@Suite struct VikunjaToolsTests {
    func withVikunja(_ body: (FakeBackend, [ToolDefinition]) async throws -> Void) async throws {
        let fake = try await FakeBackend.start { request in
            switch (request.method, request.path) {
            case ("GET", "/api/v1/tasks/5"):
                .json(#"{"id":5,"title":"old","description":"keep me","done":false,"priority":2,"project_id":1}"#)
            case ("GET", "/api/v1/projects/1/tasks"): .json(#"[{"id":5}]"#)
            case ("GET", "/api/v1/projects/2/tasks"): .json(#"{"message":"Not found"}"#, status: 404)
            case ("GET", "/api/v1/projects/2/views"): .json(#"[{"id":11,"view_kind":"kanban"},{"id":10,"view_kind":"list"}]"#)
            case ("GET", "/api/v1/projects/2/views/10/tasks"): .json(#"[{"id":9}]"#)
            case (_, let path): .json(#"{"id":1,"path":"\#(path)"}"#)
            }
        }
        try await body(fake, tools(CatalogueSettings(vikunja: BackendSettings(url: fake.url, token: "vk"))))
        await fake.stop()
    }

    @Test func pathsMethodsAndBearer() async throws {
        try await withVikunja { fake, tools in
            let calls: [(String, JSONObject, String, String)] = [
                ("vikunja_list_projects", [:], "GET", "/api/v1/projects"),
                ("vikunja_get_project", ["project_id": 3], "GET", "/api/v1/projects/3"),
                ("vikunja_get_task", ["task_id": "5"], "GET", "/api/v1/tasks/5"),
                ("vikunja_delete_task", ["task_id": 5], "DELETE", "/api/v1/tasks/5"),
                ("vikunja_list_tasks", ["project_id": 1], "GET", "/api/v1/projects/1/tasks"),
            ]
            for (name, arguments, method, path) in calls {
                #expect(await call(tools, name, arguments).error == nil, "\(name)")
                #expect(fake.last?.method == method && fake.last?.path == path, "\(name)")
                #expect(fake.last?.header("Authorization") == "Bearer vk")
            }
        }
    }

    /// The Go defect: POST for create. Vikunja creates with PUT.
    @Test func createUsesPut() async throws {
        try await withVikunja { fake, tools in
            _ = await call(tools, "vikunja_create_project", ["title": "Ops", "description": "d"])
            #expect(fake.last?.method == "PUT" && fake.last?.path == "/api/v1/projects")
            #expect(parseBody(fake.last) == ["title": "Ops", "description": "d"])
            _ = await call(tools, "vikunja_create_task", ["project_id": 4, "title": "t", "priority": 3, "due_date": "2026-02-01T10:00:00Z"])
            #expect(fake.last?.method == "PUT" && fake.last?.path == "/api/v1/projects/4/tasks")
            #expect(parseBody(fake.last) == ["title": "t", "priority": 3, "due_date": "2026-02-01T10:00:00Z"])
            #expect(await call(tools, "vikunja_create_task", ["project_id": 4, "title": "t", "priority": 9]).error?.message == "invalid argument 'priority': must be between 0 and 5")
            #expect(await call(tools, "vikunja_create_task", ["project_id": 4, "title": "t", "due_date": "tomorrow"]).error?.kind == .invalidArgument)
        }
    }

    /// The Go defect: project-scoped task paths. Also: Vikunja's POST replaces the whole
    /// task, so update reads it and changes only the given fields.
    @Test func updateMergesIntoTheCurrentTask() async throws {
        try await withVikunja { fake, tools in
            let outcome = await call(tools, "vikunja_update_task", ["task_id": 5, "done": true])
            #expect(outcome.error == nil)
            let requests = fake.requests
            #expect(requests.map { "\($0.method) \($0.path)" } == ["GET /api/v1/tasks/5", "POST /api/v1/tasks/5"])
            let body = parseBody(requests.last)
            #expect(body?["done"] == true)
            #expect(body?["description"] == "keep me")
            #expect(body?["title"] == "old")
            #expect(await call(tools, "vikunja_update_task", ["task_id": 5]).error?.kind == .invalidArgument)
        }
    }

    /// A task whose text holds our token (pasted into it by a user) is written back as it was
    /// read: redacted on the way in, the update stored `[redacted]` in the user's description.
    /// What the model sees, the POST's answer, is still redacted.
    @Test func updateWritesBackTheTaskAsItWasRead() async throws {
        let token = "vk_" + String(repeating: "t", count: 40)
        let fake = try await FakeBackend.start { request in
            request.method == "GET"
                ? .json(#"{"id":5,"title":"old","description":"set TOKEN=\#(token)","done":false}"#)
                : .json(request.text)
        }
        let tools = tools(CatalogueSettings(vikunja: BackendSettings(url: fake.url, token: token)))
        let outcome = await call(tools, "vikunja_update_task", ["task_id": 5, "done": true])
        await fake.stop()
        #expect(outcome.error == nil)
        #expect(parseBody(fake.last)?["description"] == .string("set TOKEN=\(token)"))
        #expect(!outcome.text.contains(token) && outcome.text.contains("set TOKEN=[redacted]"))
    }

    /// Vikunja pages its lists (`x-pagination-total-pages`): every page is fetched, up to 20,
    /// and a longer list says it was cut.
    @Test func listsFollowEveryPage() async throws {
        let fake = try await FakeBackend.start { request in
            let page = Int(request.query.split(separator: "&").first { $0.hasPrefix("page=") }?.dropFirst(5) ?? "1") ?? 1
            let total = request.path == "/api/v1/projects" ? "25" : "2"
            return .respond(200, [("Content-Type", "application/json"), ("x-pagination-total-pages", total)],
                            Array(#"[{"id":\#(page)}]"#.utf8))
        }
        let tools = tools(CatalogueSettings(vikunja: BackendSettings(url: fake.url, token: "vk")))
        let tasks = await call(tools, "vikunja_list_tasks", ["project_id": 1])
        #expect(tasks.json == [["id": 1], ["id": 2]])
        #expect(tasks.result?.limitReached == nil)
        #expect(fake.requests.map(\.query) == ["page=1", "page=2"])
        let projects = await call(tools, "vikunja_list_projects", [:])
        #expect(projects.result?.content.count == 2)
        #expect(projects.result?.limitReached == .backendPages)
        if case .text(let first)? = projects.result?.content.first {
            #expect((try? JSONParser.parse(first))?.arrayValue?.count == 20)
        }
        if case .text(let note)? = projects.result?.content.last {
            #expect(note == "[25 pages in all; only the first 20 (20 items) are listed.]")
        } else {
            Issue.record("no note on a cut list")
        }
        await fake.stop()
    }

    /// A later page that fails (a 5xx; too large) ends the list with the pages read, naming
    /// the failure and counted (`backend_error`; `backend_response_bytes`): the whole list
    /// used to be lost to the error. The first page failing still fails the call.
    @Test func aListStopsAtAFailingPageWithThePagesItHas() async throws {
        // Status 200 is a body too large (2), 201 one that is not JSON (4).
        for (failing, status, limit) in [(3, 503, ToolLimit.backendError), (2, 200, .backendResponseBytes), (4, 201, .backendError), (1, 503, nil)] {
            let fake = try await FakeBackend.start { request in
                let page = Int(request.query.split(separator: "&").first { $0.hasPrefix("page=") }?.dropFirst(5) ?? "1") ?? 1
                let body = page != failing ? Array(#"[{"id":\#(page)}]"#.utf8)
                    : status == 200 ? Array(repeating: UInt8(ascii: " "), count: 8192) : status == 201 ? Array("[{oops".utf8) : Array("down".utf8)
                return .respond(page == failing ? status : 200, [("Content-Type", "application/json"), ("x-pagination-total-pages", "5")], body)
            }
            let tools = tools(CatalogueSettings(vikunja: BackendSettings(url: fake.url, token: "vk"), maxResultBytes: 1024))
            let projects = await call(tools, "vikunja_list_projects", [:])
            await fake.stop()
            guard let limit else {
                #expect(projects.error?.kind == .backendStatus)
                continue
            }
            #expect(projects.error == nil)
            #expect(projects.result?.limitReached == limit)
            if case .text(let first)? = projects.result?.content.first {
                #expect(try JSONParser.parse(first) == .array((1..<failing).map { ["id": .int(Int64($0))] }))
            } else {
                Issue.record("no list")
            }
            if case .text(let note)? = projects.result?.content.last {
                #expect(note.hasPrefix("[5 pages in all; only the first \(failing - 1) (\(failing - 1) items) are listed: page \(failing) failed: "))
                #expect(note.contains(status == 200 ? "byte cap" : status == 201 ? "malformed JSON" : "vikunja returned HTTP 503"))
            } else {
                Issue.record("no note on a cut list")
            }
        }
    }

    /// A later page that does not come in time ends the list with the pages read, said so
    /// and counted as `deadline`, before the call's deadline (8 s here, less 0.4 s kept for
    /// the answer; it used to cost the whole list to the call's timeout). The deadline is
    /// long because the full suite's CPU-bound tests can hold both cooperative threads of a
    /// 2-core host for about 5 s: with 4 s, pages 1 and 2 once did not come in time.
    @Test func aListStopsAtTheCallsDeadlineWithThePagesItHas() async throws {
        let fake = try await FakeBackend.start { request in
            let page = Int(request.query.split(separator: "&").first { $0.hasPrefix("page=") }?.dropFirst(5) ?? "1") ?? 1
            if page == 3 { return .hang }
            return .respond(200, [("Content-Type", "application/json"), ("x-pagination-total-pages", "5")],
                            Array(#"[{"id":\#(page)}]"#.utf8))
        }
        let tools = tools(CatalogueSettings(vikunja: BackendSettings(url: fake.url, token: "vk")))
        var context = ToolContext(toolName: "vikunja_list_projects")
        let start = ContinuousClock.now
        context.setDeadline(.seconds(8), from: start)
        let projects = await call(tools, "vikunja_list_projects", [:], context: context)
        let elapsed = ContinuousClock.now - start
        await fake.stop()
        #expect(projects.error == nil)
        #expect(projects.result?.limitReached == .deadline)
        if case .text(let first)? = projects.result?.content.first {
            #expect(try JSONParser.parse(first) == [["id": 1], ["id": 2]])
        } else {
            Issue.record("no list")
        }
        if case .text(let note)? = projects.result?.content.last {
            #expect(note == "[5 pages in all; only the first 2 (2 items) are listed: the call's time ran out.]")
        } else {
            Issue.record("no note on a cut list")
        }
        // At the bound, not at the page's own timeout (30 s); the dispatcher test checks that
        // the answer comes before the deadline.
        #expect(elapsed >= .milliseconds(7500) && elapsed < .seconds(20))
    }

    /// Each page is under the response cap, but the pages of one list are held at once:
    /// fetching stops once their bodies together reach that cap (4x the result cap).
    @Test func pagesStopAtTheResponseCap() async throws {
        let pad = String(repeating: "x", count: 1500)
        let fake = try await FakeBackend.start { request in
            let page = Int(request.query.split(separator: "&").first { $0.hasPrefix("page=") }?.dropFirst(5) ?? "1") ?? 1
            return .respond(200, [("Content-Type", "application/json"), ("x-pagination-total-pages", "20")],
                            Array(#"[{"id":\#(page),"pad":"\#(pad)"}]"#.utf8))
        }
        let tools = tools(CatalogueSettings(vikunja: BackendSettings(url: fake.url, token: "vk"), maxResultBytes: 1024))
        let projects = await call(tools, "vikunja_list_projects", [:])
        #expect(fake.requests.map(\.query) == ["page=1", "page=2", "page=3"])
        // Cut at the result cap too: that is the cap counted.
        #expect(projects.result?.limitReached == .resultBytes)
        if case .text(let note)? = projects.result?.content.last {
            #expect(note == "[20 pages in all; only the first 3 (3 items) are listed.]")
        } else {
            Issue.record("no note on a cut list")
        }
        await fake.stop()
    }

    @Test func listTasksFallsBackToTheListViewOnNewerServers() async throws {
        try await withVikunja { fake, tools in
            let outcome = await call(tools, "vikunja_list_tasks", ["project_id": 2])
            #expect(outcome.json == [["id": 9]])
            #expect(fake.last?.path == "/api/v1/projects/2/views/10/tasks")
        }
    }
}
