import MCPCore
import Testing
@testable import Tools

/// Grafana HTTP API calls (tools-catalogue.md, Grafana table), against the fake backend.
@Suite struct GrafanaToolsTests {
    func withGrafana(_ body: (FakeBackend, [ToolDefinition]) async throws -> Void) async throws {
        let fake = try await FakeBackend.start { request in
            switch (request.method, request.path) {
            case ("GET", "/api/search"): .json(#"[{"uid":"abc","title":"Node","type":"dash-db"}]"#)
            case ("GET", "/api/dashboards/uid/missing"): .json(#"{"message":"Dashboard not found"}"#, status: 404)
            case ("GET", "/api/health"): .json(#"{"database":"ok","version":"11.3.0"}"#)
            case ("POST", "/api/ds/query"): .json(#"{"results":{"A":{"status":200,"frames":[]}}}"#)
            case ("GET", "/api/datasources/uid/prom1"): .json(#"{"uid":"prom1","type":"prometheus"}"#)
            case ("GET", "/api/datasources/uid/flux1"): .json(#"{"uid":"flux1","type":"influxdb"}"#)
            default: .json(#"{"ok":true}"#)
            }
        }
        defer { Task { await fake.stop() } }
        try await body(fake, tools(CatalogueSettings(grafana: BackendSettings(url: fake.url + "/", token: "glsa_secret"))))
        await fake.stop()
    }

    @Test func readToolsCallTheDocumentedPathsWithTheBearerToken() async throws {
        try await withGrafana { fake, tools in
            let calls: [(String, JSONObject, String, String)] = [
                ("grafana_list_dashboards", [:], "/api/search", "type=dash-db&limit=5000"),
                ("grafana_get_dashboard", ["uid": "a-b_c"], "/api/dashboards/uid/a-b_c", ""),
                ("grafana_list_datasources", [:], "/api/datasources", ""),
                ("grafana_get_datasource", ["uid": "P1"], "/api/datasources/uid/P1", ""),
                ("grafana_list_alert_rules", [:], "/api/v1/provisioning/alert-rules", ""),
                ("grafana_get_health", [:], "/api/health", ""),
                ("grafana_search", ["query": "node & co"], "/api/search", "query=node%20%26%20co&limit=5000"),
            ]
            for (name, arguments, path, query) in calls {
                let outcome = await call(tools, name, arguments)
                #expect(outcome.error == nil, "\(name): \(String(describing: outcome.error))")
                #expect(outcome.json != nil, "\(name) result is not JSON")
                #expect(fake.last?.method == "GET" && fake.last?.path == path && fake.last?.query == query, "\(name)")
                #expect(fake.last?.header("Authorization") == "Bearer glsa_secret")
            }
            #expect(await call(tools, "grafana_get_health").result?.structuredContent?["version"] == "11.3.0")
        }
    }

    /// The Go defect: no time range and a wrong datasource field. /api/ds/query wants
    /// queries[].datasource.uid plus from/to.
    @Test func queryDatasourceSendsUidAndTimeRange() async throws {
        try await withGrafana { fake, tools in
            let outcome = await call(tools, "grafana_query_datasource", ["datasource_uid": "prom1", "query": "up", "from": "now-6h"])
            #expect(outcome.error == nil)
            let body = parseBody(fake.last)
            #expect(fake.last?.method == "POST" && fake.last?.path == "/api/ds/query")
            #expect(fake.last?.header("Content-Type") == "application/json")
            #expect(body?["queries"]?[0]?["datasource"]?["uid"] == "prom1")
            #expect(body?["queries"]?[0]?["refId"] == "A")
            #expect(body?["queries"]?[0]?["expr"] == "up")
            #expect(body?["from"] == "now-6h")
            #expect(body?["to"] == "now")
        }
    }

    /// A query runs in its data source's language, some of which write (Flux `to()`, SQL):
    /// those data sources need a caller that may write, where a read-only token used to run
    /// any query through this read-only tool. PromQL and the like stay open to every caller.
    @Test func queriesThatCanWriteNeedTheWriteScope() async throws {
        try await withGrafana { fake, tools in
            let reader = ToolContext(toolName: "grafana_query_datasource", allowsWrites: false)
            let flux: JSONObject = ["datasource_uid": "flux1", "query": "from(bucket:\"b\") |> to(bucket:\"prod\")"]
            let refused = await call(tools, "grafana_query_datasource", flux, context: reader)
            #expect(refused.error?.kind == .invalidArgument)
            #expect(refused.error?.message.contains("a 'influxdb' data source runs queries that can change data; querying it needs a token with the write scope") == true)
            #expect(fake.last?.path == "/api/datasources/uid/flux1", "refused before the query was sent")
            #expect(await call(tools, "grafana_query_datasource", ["datasource_uid": "prom1", "query": "up"], context: reader).error == nil)
            #expect(fake.last?.path == "/api/ds/query")
            #expect(await call(tools, "grafana_query_datasource", flux).error == nil, "a caller that may write")
            #expect(fake.last?.path == "/api/ds/query")
            // Unknown type (the lookup answered without one): as cautious as a writing language.
            #expect(await call(tools, "grafana_query_datasource", ["datasource_uid": "other", "query": "x"], context: reader)
                .error?.message.contains("a data source of unknown type") == true)
        }
        // A read-only server refuses them to every caller.
        let fake = try await FakeBackend.start { _ in .json(#"{"uid":"flux1","type":"influxdb"}"#) }
        let readOnly = tools(CatalogueSettings(grafana: BackendSettings(url: fake.url, token: "glsa_secret"), readOnly: true))
        #expect(await call(readOnly, "grafana_query_datasource", ["datasource_uid": "flux1", "query": "x"]).error?.message.contains("the server is read-only") == true)
        await fake.stop()
    }

    /// `/api/search` gives 1,000 hits unless asked for more (at most 5,000): the list said
    /// "every dashboard" and returned the first thousand without a word.
    @Test func aSearchAsksForGrafanasMostHitsAndSaysWhenItMayHaveMore() async throws {
        let hits = (0..<5000).map { #"{"uid":"d\#($0)"}"# }.joined(separator: ",")
        let fake = try await FakeBackend.start { _ in .json("[\(hits)]") }
        let tools = tools(CatalogueSettings(grafana: BackendSettings(url: fake.url, token: "t"), maxResultBytes: 1 << 20))
        let outcome = await call(tools, "grafana_list_dashboards")
        await fake.stop()
        #expect(outcome.result?.limitReached == .backendPages)
        if case .text(let note)? = outcome.result?.content.last {
            #expect(note.hasPrefix("[cut: Grafana gives at most 5000 hits at once"))
        } else {
            Issue.record("no note")
        }
    }

    @Test func writeToolsSendTheRightBodies() async throws {
        try await withGrafana { fake, tools in
            _ = await call(tools, "grafana_create_dashboard", ["title": "New", "folder_uid": "f1", "dashboard": ["panels": [["id": 1]]]])
            let dash = parseBody(fake.last)
            #expect(fake.last?.method == "POST" && fake.last?.path == "/api/dashboards/db")
            #expect(dash?["dashboard"]?["title"] == "New")
            #expect(dash?["dashboard"]?["panels"]?[0]?["id"] == 1)
            #expect(dash?["folderUid"] == "f1")
            #expect(dash?["overwrite"] == false)

            _ = await call(tools, "grafana_create_datasource", ["name": "p", "type": "prometheus", "url": "http://p:9090", "is_default": true])
            let ds = parseBody(fake.last)
            #expect(fake.last?.path == "/api/datasources" && ds?["isDefault"] == true && ds?["access"] == "proxy" && ds?["type"] == "prometheus")

            _ = await call(tools, "grafana_delete_dashboard", ["uid": "abc"])
            #expect(fake.last?.method == "DELETE" && fake.last?.path == "/api/dashboards/uid/abc")
        }
    }

    @Test func badArgumentsFailBeforeAnyBackendCall() async throws {
        try await withGrafana { fake, tools in
            #expect(await call(tools, "grafana_get_dashboard").error?.message == "invalid argument 'uid': is required")
            #expect(await call(tools, "grafana_get_dashboard", ["uid": 5]).error?.message == "invalid argument 'uid': must be a string")
            #expect(await call(tools, "grafana_get_dashboard", ["uid": "../admin"]).error?.kind == .invalidArgument)
            #expect(await call(tools, "grafana_create_dashboard", ["title": "x", "dashboard": "no"]).error?.message == "invalid argument 'dashboard': must be an object")
            #expect(fake.requests.isEmpty)
        }
    }

    /// A data source URL is Grafana's to fetch: a metadata endpoint or a host outside
    /// `grafana.datasource_hosts` is refused before Grafana hears of it.
    @Test func datasourceURLsFollowThePolicy() async throws {
        let fake = try await FakeBackend.start { _ in .json(#"{"id":1}"#) }
        defer { Task { await fake.stop() } }
        let open = tools(CatalogueSettings(grafana: BackendSettings(url: fake.url, token: "t")))
        let metadata: JSONObject = ["name": "m", "type": "prometheus", "url": "http://169.254.169.254/latest/"]
        #expect(await call(open, "grafana_create_datasource", metadata).error?.message == "url: link-local, cloud metadata and unspecified addresses are refused")
        #expect(fake.requests.isEmpty)
        let listed = tools(CatalogueSettings(grafana: BackendSettings(url: fake.url, token: "t"), grafanaDatasourceHosts: ["*.svc"]))
        let outside: JSONObject = ["name": "p", "type": "prometheus", "url": "http://prometheus.example:9090"]
        #expect(await call(listed, "grafana_create_datasource", outside).error?.message == "url: the host is not in grafana.datasource_hosts")
        #expect(fake.requests.isEmpty)
        let inside: JSONObject = ["name": "p", "type": "prometheus", "url": "http://prometheus.svc:9090"]
        #expect(await call(listed, "grafana_create_datasource", inside).error == nil)
        #expect(parseBody(fake.last)?["url"] == "http://prometheus.svc:9090")
        await fake.stop()
    }

    @Test func notFoundCarriesStatusAndGrafanasMessage() async throws {
        try await withGrafana { _, tools in
            let error = await call(tools, "grafana_get_dashboard", ["uid": "missing"]).error
            #expect(error?.kind == .backendStatus)
            #expect(error?.message == "grafana returned HTTP 404 Not Found: Dashboard not found")
        }
    }
}
