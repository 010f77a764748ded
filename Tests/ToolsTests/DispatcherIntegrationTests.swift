import MCPCore
import Testing
@testable import Tools

/// The catalogue behind MCPCore's dispatcher: JSON-RPC in, tools/list and tools/call out,
/// the backend a recording fake (2025-11-25 server/tools.mdx "Listing Tools", "Calling
/// Tools", "Error Handling": tool failures are results with isError, not JSON-RPC errors).
@Suite struct DispatcherIntegrationTests {
    struct Harness {
        let dispatcher: MCPDispatcher
        let session = MCPSession(transport: "test")

        init(_ tools: [ToolDefinition]) {
            dispatcher = MCPDispatcher(
                configuration: .init(identity: ServerIdentity(name: "t", version: "1"), pageSize: 100),
                registry: ToolRegistry(tools))
        }

        func request(_ method: String, id: Int64 = 1, params: JSONValue? = nil) async -> JSONValue? {
            var message: JSONObject = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
            if let params { message["params"] = params }
            guard let bytes = await dispatcher.handle(bytes: JSONValue.object(message).serialized(), session: session, outbound: DiscardingOutbound()) else { return nil }
            return try? JSONParser.parse(bytes)
        }

        func initialize() async {
            _ = await request("initialize", id: 0, params: ["protocolVersion": "2025-11-25", "capabilities": [:], "clientInfo": ["name": "t", "version": "1"]])
            _ = await dispatcher.handle(bytes: Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8), session: session, outbound: DiscardingOutbound())
        }

        func callTool(_ name: String, _ arguments: JSONValue) async -> JSONValue? {
            await request("tools/call", id: 2, params: ["name": .string(name), "arguments": arguments])?["result"]
        }
    }

    /// The dispatcher gives the call its deadline: a search whose page hangs answers with
    /// what it found before that deadline, not with the timeout (which discarded them).
    @Test func aSearchAnswersBeforeTheDispatchersDeadline() async throws {
        let fake = try await FakeBackend.start { request in
            switch request.path {
            case "/.fs": .json(#"[{"name":"A.md"},{"name":"Slow.md"}]"#)
            case "/.fs/Slow.md": .hang
            default: .text("the needle is here\n")
            }
        }
        // The call's deadline (`timeout.operation`) before the page's own (30 s); 8 s, as the
        // paged tools' deadline tests, for the full suite can hold both cooperative threads of
        // a 2-core host for about 5 s.
        let harness = Harness(tools(CatalogueSettings(silverbullet: BackendSettings(url: fake.url, token: "t"), operationTimeout: .seconds(8))))
        await harness.initialize()
        let result = await harness.callTool("silverbullet_search_pages", ["query": "needle"])
        await fake.stop()
        #expect(result?["isError"] == false)
        #expect(result?["structuredContent"]?["stopped_at_deadline"] == true)
        #expect(result?["structuredContent"]?["results"]?[0]?["page_name"] == "A")
    }

    @Test func listAndCallThroughTheDispatcher() async throws {
        let fake = try await FakeBackend.start { request in
            switch request.path {
            case "/api/dashboards/uid/abc": .json(#"{"dashboard":{"uid":"abc","title":"Node"}}"#)
            case "/api/v1/tasks/404": .json(#"{"message":"The task does not exist."}"#, status: 404)
            default: .json("[]")
            }
        }
        let catalogue = tools(CatalogueSettings(
            grafana: BackendSettings(url: fake.url, token: "g"), vikunja: BackendSettings(url: fake.url, token: "v")))
        let harness = Harness(catalogue)
        await harness.initialize()

        let listed = await harness.request("tools/list")?["result"]?["tools"]?.arrayValue ?? []
        #expect(listed.count == 19)
        for tool in listed {
            #expect(tool["inputSchema"]?["type"] == "object")
            #expect(tool["annotations"]?["readOnlyHint"] != nil)
        }

        let ok = await harness.callTool("grafana_get_dashboard", ["uid": "abc"])
        #expect(ok?["isError"] != true)
        #expect(ok?["structuredContent"]?["dashboard"]?["title"] == "Node")
        #expect(ok?["content"]?[0]?["text"] == #"{"dashboard":{"uid":"abc","title":"Node"}}"#)

        let missing = await harness.callTool("grafana_get_dashboard", [:])
        #expect(missing?["isError"] == true)
        #expect(missing?["content"]?[0]?["text"]?.stringValue?.contains("uid") == true)

        let wrongType = await harness.callTool("vikunja_get_task", ["task_id": "abc"])
        #expect(wrongType?["isError"] == true)
        #expect(wrongType?["content"]?[0]?["text"]?.stringValue?.contains("task_id") == true)

        let notFound = await harness.callTool("vikunja_get_task", ["task_id": 404])
        #expect(notFound?["isError"] == true)
        #expect(notFound?["content"]?[0]?["text"] == "vikunja returned HTTP 404 Not Found: The task does not exist.")
        #expect(fake.requests.count == 2)  // bad arguments never reached the backend
        await fake.stop()
    }

    /// What the Go server's clients send still works through the validator: the project of
    /// a Vikunja task (its task tools required it) and ids quoted as strings (its
    /// `portainer_get_stack` took "3"); a quoted id is checked as the number it is.
    @Test func goServerArgumentsPassTheValidator() async throws {
        let fake = try await FakeBackend.start { _ in .json(#"{"id":5}"#) }
        let harness = Harness(tools(CatalogueSettings(
            portainer: BackendSettings(url: fake.url, token: "p"), vikunja: BackendSettings(url: fake.url, token: "v"))))
        await harness.initialize()
        #expect(await harness.callTool("vikunja_get_task", ["project_id": 1, "task_id": 5])?["isError"] == false)
        #expect(fake.last?.path == "/api/v1/tasks/5")
        #expect(await harness.callTool("vikunja_delete_task", ["project_id": "1", "task_id": "5"])?["isError"] == false)
        #expect(fake.last?.method == "DELETE" && fake.last?.path == "/api/v1/tasks/5")
        #expect(await harness.callTool("portainer_get_stack", ["stack_id": "3"])?["isError"] == false)
        #expect(fake.last?.path == "/api/stacks/3")
        let before = fake.requests.count
        for bad in ["0", "-3", "3.5", "x3", "", " 3", String(repeating: "9", count: 19)] {
            let refused = await harness.callTool("portainer_get_stack", ["stack_id": .string(bad)])
            #expect(refused?["isError"] == true, "\(bad)")
        }
        #expect(fake.requests.count == before)
        await fake.stop()
    }

    /// A declared `maxLength` is enforced before the handler runs.
    @Test func overlongArgumentIsRefusedByName() async throws {
        let fake = try await FakeBackend.start { _ in .json("[]") }
        let harness = Harness(tools(CatalogueSettings(grafana: BackendSettings(url: fake.url, token: "g"))))
        await harness.initialize()
        let refused = await harness.callTool("grafana_search", ["query": .string(String(repeating: "q", count: 513))])
        #expect(refused?["isError"] == true)
        #expect(refused?["content"]?[0]?["text"] == "Invalid arguments for grafana_search: argument 'query': must be at most 512 characters, found 513")
        #expect(await harness.callTool("grafana_search", ["query": .string(String(repeating: "q", count: 512))])?["isError"] == false)
        #expect(fake.requests.count == 1)
        await fake.stop()
    }
}
