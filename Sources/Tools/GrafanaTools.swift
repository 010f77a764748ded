import MCPCore
import NIOHTTP1

/// The Grafana tools (HTTP API, grafana.com/docs/grafana/latest/developers/http_api/),
/// authenticated with a service-account token as `Authorization: Bearer`.
enum GrafanaTools {
    /// Data source types whose query language only reads (PromQL, LogQL, Lucene, TraceQL,
    /// Graphite's render functions). Others can change data through a query (Flux `to()`,
    /// InfluxQL `SELECT … INTO`, SQL): querying them needs a caller that may write.
    static let readOnlyQueryTypes: Set<String> = ["prometheus", "loki", "elasticsearch", "tempo", "graphite"]

    /// The most hits `/api/search` gives at once (its default is 1,000, which the list used to
    /// return as "every dashboard" without a word).
    static let searchLimit = 5000

    /// A search's hits, with a note when Grafana may have had more than it gives at once.
    static func searchResult(_ hits: JSONValue, _ format: ResultFormatter) -> ToolResult {
        var result = format.json(hits)
        if hits.arrayValue?.count ?? 0 >= searchLimit {
            result.content.append(.text("[cut: Grafana gives at most \(searchLimit) hits at once and may have more; narrow them with grafana_search]"))
            result.limitReached = result.limitReached ?? .backendPages
        }
        return result
    }

    static func make(_ backend: Backend, format: ResultFormatter, datasourceURLs: DatasourceURLPolicy,
                     writesAllowed: Bool = true) -> [ToolDefinition] {
        [
            ToolDefinition(
                name: "grafana_list_dashboards", title: "Grafana dashboards",
                description: "List every dashboard (uid, title, folder, url).",
                inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                searchResult(try await backend.json(.GET, "/api/search", query: [("type", "dash-db"), ("limit", String(Self.searchLimit))]), format)
            },
            ToolDefinition(
                name: "grafana_get_dashboard", title: "Grafana dashboard",
                description: "Get a dashboard's JSON model and metadata by uid.",
                inputSchema: Schema.object([("uid", Schema.string("Dashboard uid", maxLength: 256))], required: ["uid"]),
                annotations: .readOnly
            ) { arguments, _ in
                let uid = try arguments.identifier("uid")
                return format.json(try await backend.json(.GET, "/api/dashboards/uid/\(PercentEncoding.encode(uid))"))
            },
            ToolDefinition(
                name: "grafana_create_dashboard", title: "Create a Grafana dashboard",
                description: "Create a dashboard (fails if one with the same uid or title exists in the folder).",
                inputSchema: Schema.object([
                    ("title", Schema.string("Dashboard title", maxLength: 512)),
                    ("folder_uid", Schema.string("Folder uid; omit for the General folder", maxLength: 256)),
                    ("dashboard", Schema.anyObject("Full dashboard JSON model (panels, …); its title is replaced by `title`")),
                ], required: ["title"]),
                annotations: .write
            ) { arguments, _ in
                let title = try arguments.nonEmptyString("title")
                let folder = try arguments.optionalString("folder_uid")
                var model = try arguments.optionalObject("dashboard") ?? ["panels": [], "schemaVersion": 39]
                model["title"] = .string(title)
                model["id"] = .null
                var body: JSONObject = ["dashboard": .object(model), "overwrite": false]
                if let folder, !folder.isEmpty { body["folderUid"] = .string(folder) }
                return format.json(try await backend.json(.POST, "/api/dashboards/db", body: .object(body)))
            },
            ToolDefinition(
                name: "grafana_delete_dashboard", title: "Delete a Grafana dashboard",
                description: "Delete a dashboard by uid.",
                inputSchema: Schema.object([("uid", Schema.string("Dashboard uid", maxLength: 256))], required: ["uid"]),
                annotations: .destructive
            ) { arguments, _ in
                let uid = try arguments.identifier("uid")
                return format.json(try await backend.json(.DELETE, "/api/dashboards/uid/\(PercentEncoding.encode(uid))"))
            },
            ToolDefinition(
                name: "grafana_list_datasources", title: "Grafana data sources",
                description: "List the data sources (uid, name, type, url).",
                inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/api/datasources"))
            },
            ToolDefinition(
                name: "grafana_get_datasource", title: "Grafana data source",
                description: "Get one data source by uid.",
                inputSchema: Schema.object([("uid", Schema.string("Data source uid", maxLength: 256))], required: ["uid"]),
                annotations: .readOnly
            ) { arguments, _ in
                let uid = try arguments.identifier("uid")
                return format.json(try await backend.json(.GET, "/api/datasources/uid/\(PercentEncoding.encode(uid))"))
            },
            ToolDefinition(
                name: "grafana_create_datasource", title: "Create a Grafana data source",
                description: "Create a data source (access mode proxy). Grafana will fetch its URL: link-local addresses are refused, and the server may limit the hosts allowed.",
                inputSchema: Schema.object([
                    ("name", Schema.string("Data source name", maxLength: 256)),
                    ("type", Schema.string("Plugin type, e.g. prometheus, loki", maxLength: 128)),
                    ("url", Schema.string("URL Grafana uses to reach it", maxLength: 2048)),
                    ("is_default", Schema.boolean("Make it the default data source", default: false)),
                ], required: ["name", "type", "url"]),
                annotations: .write
            ) { arguments, _ in
                let url = try arguments.nonEmptyString("url")
                try datasourceURLs.check(url)
                let body: JSONValue = [
                    "name": .string(try arguments.nonEmptyString("name")),
                    "type": .string(try arguments.nonEmptyString("type")),
                    "url": .string(url),
                    "access": "proxy",
                    "isDefault": .bool(try arguments.optionalBool("is_default") ?? false),
                ]
                return format.json(try await backend.json(.POST, "/api/datasources", body: body))
            },
            ToolDefinition(
                name: "grafana_query_datasource", title: "Query a Grafana data source",
                description: "Run a query (e.g. PromQL for a Prometheus data source) through Grafana over a time range. Prometheus, Loki, Elasticsearch, Tempo and Graphite data sources for any caller; others (InfluxDB, SQL, …), whose queries can change data, only for a caller that may write.",
                inputSchema: Schema.object([
                    ("datasource_uid", Schema.string("Data source uid", maxLength: 256)),
                    ("query", Schema.string("Query expression in the data source's language")),
                    ("from", Schema.string("Range start, Grafana syntax: 'now-1h', or epoch milliseconds", default: "now-1h", maxLength: 64)),
                    ("to", Schema.string("Range end, Grafana syntax: 'now', or epoch milliseconds", default: "now", maxLength: 64)),
                ], required: ["datasource_uid", "query"]),
                annotations: .readOnly
            ) { arguments, context in
                // The Go server sent no time range and put the uid in a `datasourceId` field;
                // /api/ds/query wants `datasource: {uid}` per query plus `from`/`to`.
                let uid = try arguments.identifier("datasource_uid")
                let expression = try arguments.nonEmptyString("query")
                let from = try arguments.optionalString("from") ?? "now-1h"
                let to = try arguments.optionalString("to") ?? "now"
                // The tool is listed as reading, for read-only tokens too, but the query runs
                // in the data source's language: a Flux `to()` or an SQL `DELETE` would write
                // with the data source's credentials. The type decides, looked up first.
                let source = try await backend.json(.GET, "/api/datasources/uid/\(PercentEncoding.encode(uid))")
                let type = source["type"]?.stringValue ?? ""
                guard Self.readOnlyQueryTypes.contains(type) || (writesAllowed && context.allowsWrites) else {
                    let what = type.isEmpty ? "a data source of unknown type" : "a '\(type)' data source"
                    throw ToolError.invalidArgument("datasource_uid", "\(what) runs queries that can change data; "
                        + (writesAllowed ? "querying it needs a token with the write scope" : "the server is read-only")
                        + " (Prometheus, Loki, Elasticsearch, Tempo and Graphite data sources can be queried)")
                }
                let body: JSONValue = [
                    "queries": [[
                        "refId": "A", "datasource": ["uid": .string(uid)], "expr": .string(expression),
                        "query": .string(expression), "intervalMs": 60000, "maxDataPoints": 1000,
                    ]],
                    "from": .string(from), "to": .string(to),
                ]
                return format.json(try await backend.json(.POST, "/api/ds/query", body: body))
            },
            ToolDefinition(
                name: "grafana_list_alert_rules", title: "Grafana alert rules",
                description: "List the provisioned alert rules.", inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/api/v1/provisioning/alert-rules"))
            },
            ToolDefinition(
                name: "grafana_get_health", title: "Grafana health",
                description: "Grafana's version and database health.", inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/api/health"))
            },
            ToolDefinition(
                name: "grafana_search", title: "Grafana search",
                description: "Search dashboards and folders by title.",
                inputSchema: Schema.object([("query", Schema.string("Text to look for in titles", maxLength: 512))], required: ["query"]),
                annotations: .readOnly
            ) { arguments, _ in
                let text = try arguments.string("query")
                return searchResult(try await backend.json(.GET, "/api/search", query: [("query", text), ("limit", String(Self.searchLimit))]), format)
            },
        ]
    }
}
