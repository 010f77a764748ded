import MCPCore
import NIOCore
import Testing
@testable import Tools

/// Portainer API + proxied Docker Engine API (tools-catalogue.md, Portainer table).
@Suite struct PortainerToolsTests {
    static let logBody = DockerLogStreamTests.frame(1, "starting\n") + DockerLogStreamTests.frame(2, "warning: x\n")

    func withPortainer(_ body: (FakeBackend, [ToolDefinition]) async throws -> Void) async throws {
        let fake = try await FakeBackend.start { request in
            switch (request.method, request.path) {
            case ("GET", let p) where p.hasSuffix("/logs"):
                .respond(200, [("Content-Type", "application/vnd.docker.multiplexed-stream")], Self.logBody)
            case ("POST", "/api/endpoints/1/docker/containers/web/start"): .respond(304, [], [])
            case ("POST", let p) where p.hasPrefix("/api/endpoints/"): .respond(204, [], [])
            case ("GET", "/api/stacks/7/file"): .json(#"{"StackFileContent":"services: {}"}"#)
            default: .json(#"[{"Id":"1"}]"#)
            }
        }
        try await body(fake, tools(CatalogueSettings(portainer: BackendSettings(url: fake.url, token: "ptr_key"))))
        await fake.stop()
    }

    @Test func readToolsUseTheDocumentedPathsAndTheAPIKey() async throws {
        try await withPortainer { fake, tools in
            let calls: [(String, JSONObject, String, String)] = [
                ("portainer_list_endpoints", [:], "/api/endpoints", ""),
                ("portainer_list_containers", [:], "/api/endpoints/1/docker/containers/json", "all=1"),
                ("portainer_list_containers", ["endpoint_id": "3"], "/api/endpoints/3/docker/containers/json", "all=1"),
                ("portainer_inspect_container", ["container_id": "web"], "/api/endpoints/1/docker/containers/web/json", ""),
                ("portainer_list_stacks", [:], "/api/stacks", ""),
                ("portainer_get_stack", ["stack_id": 7], "/api/stacks/7", ""),
                ("portainer_get_stack_file", ["stack_id": 7], "/api/stacks/7/file", ""),
                ("portainer_get_status", [:], "/api/system/status", ""),
            ]
            for (name, arguments, path, query) in calls {
                let outcome = await call(tools, name, arguments)
                #expect(outcome.error == nil, "\(name): \(String(describing: outcome.error))")
                #expect(fake.last?.method == "GET" && fake.last?.path == path && fake.last?.query == query, "\(name)")
                #expect(fake.last?.header("X-API-Key") == "ptr_key")
                #expect(fake.last?.header("Authorization") == nil)
            }
        }
    }

    /// The Go defect: the 8-byte frame headers of Docker's multiplexed stream were returned
    /// as text.
    @Test func logsAreDemultiplexed() async throws {
        try await withPortainer { fake, tools in
            let outcome = await call(tools, "portainer_get_container_logs", ["container_id": "web", "tail": 20])
            #expect(outcome.text == "starting\nwarning: x\n")
            #expect(fake.last?.path == "/api/endpoints/1/docker/containers/web/logs")
            #expect(queryValue(fake.last?.query ?? "", "tail") == "20")
            #expect(queryValue(fake.last?.query ?? "", "stdout") == "1" && queryValue(fake.last?.query ?? "", "stderr") == "1")
            #expect(await call(tools, "portainer_get_container_logs", ["container_id": "web", "tail": 0]).error?.message == "invalid argument 'tail': must be between 1 and 10000")
        }
    }

    /// Docker answers a stop once the container's grace period is over (minutes for some
    /// databases): the request has the call's time, not `timeout.http`, and a timeout says
    /// the action may still finish instead of inviting a retry (a second restart).
    @Test func aStopWaitsForDockerWithinTheCallsTime() async throws {
        let fake = try await FakeBackend.start { request in
            request.path.hasSuffix("/stop") ? .after(.milliseconds(1500), status: 204) : .hang
        }
        let tools = tools(CatalogueSettings(portainer: BackendSettings(url: fake.url, token: "ptr_key"), httpTimeout: .milliseconds(500)))
        var roomy = ToolContext(toolName: "portainer_stop_container")
        roomy.setDeadline(.seconds(10), from: .now)
        let stopped = await call(tools, "portainer_stop_container", ["container_id": "db"], context: roomy)
        #expect(stopped.error == nil, "\(String(describing: stopped.error))")
        #expect(stopped.result?.structuredContent?["result"] == "stopped")
        var tight = ToolContext(toolName: "portainer_restart_container")
        tight.setDeadline(.seconds(2), from: .now)
        let restart = await call(tools, "portainer_restart_container", ["container_id": "db"], context: tight)
        await fake.stop()
        #expect(restart.error?.kind == .timeout)
        #expect(restart.error?.message.contains("Docker may still be restarting the container (its stop grace period): check it with portainer_inspect_container before trying again") == true)
    }

    /// A log line holding our API key is redacted after the frames are taken apart: redacted
    /// first, the frame's length no longer matched its bytes, and the frames after it came
    /// out with their binary headers.
    @Test func logsAreRedactedAfterTheFramesAreTakenApart() async throws {
        let key = "ptr_" + String(repeating: "k", count: 40)
        let body = DockerLogStreamTests.frame(1, "X-API-Key: \(key)\n") + DockerLogStreamTests.frame(2, "after\n")
        let fake = try await FakeBackend.start { _ in .respond(200, [("Content-Type", "application/vnd.docker.multiplexed-stream")], body) }
        let tools = tools(CatalogueSettings(portainer: BackendSettings(url: fake.url, token: key)))
        let outcome = await call(tools, "portainer_get_container_logs", ["container_id": "web"])
        await fake.stop()
        #expect(outcome.text == "X-API-Key: [redacted]\nafter\n")
    }

    /// Past the response cap the answer cannot be cut to its newest lines (they come last):
    /// the error says how to get them.
    @Test func logsOverTheCapSayToAskForFewerLines() async throws {
        let noisy = DockerLogStreamTests.frame(1, String(repeating: "a long and noisy log line\n", count: 400))
        let fake = try await FakeBackend.start { _ in .respond(200, [("Content-Type", "application/vnd.docker.multiplexed-stream")], noisy) }
        let tools = tools(CatalogueSettings(portainer: BackendSettings(url: fake.url, token: "ptr_key"), maxResultBytes: 1024))
        let outcome = await call(tools, "portainer_get_container_logs", ["container_id": "web", "tail": 5000])
        #expect(outcome.error?.kind == .tooLarge)
        #expect(outcome.error?.message.contains("5000 lines are too many for this container; ask for fewer with a smaller 'tail'") == true)
        await fake.stop()
    }

    @Test func lifecycleActionsPostAndReportTheOutcome() async throws {
        try await withPortainer { fake, tools in
            let stop = await call(tools, "portainer_stop_container", ["container_id": "db", "endpoint_id": 2])
            #expect(fake.last?.method == "POST" && fake.last?.path == "/api/endpoints/2/docker/containers/db/stop")
            #expect(stop.result?.structuredContent?["result"] == "stopped")
            _ = await call(tools, "portainer_restart_container", ["container_id": "db"])
            #expect(fake.last?.path == "/api/endpoints/1/docker/containers/db/restart")
            // Docker: 304 Not Modified = already in that state, not an error.
            let start = await call(tools, "portainer_start_container", ["container_id": "web"])
            #expect(start.result?.structuredContent?["result"] == "already started")
            #expect(await call(tools, "portainer_stop_container", ["container_id": "a/b"]).error?.kind == .invalidArgument)
            #expect(await call(tools, "portainer_stop_container", ["container_id": "db", "endpoint_id": -1]).error?.message == "invalid argument 'endpoint_id': must be a positive integer")
        }
    }
}
