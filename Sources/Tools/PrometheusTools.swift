import MCPCore
import NIOHTTP1

/// The Prometheus tools (HTTP API v1, prometheus.io/docs/prometheus/latest/querying/api/).
/// Answers are Prometheus' own envelope (`{"status":"success","data":…}`), given as JSON
/// text and as `structuredContent`.
enum PrometheusTools {
    static func make(_ backend: Backend, format: ResultFormatter, now: @escaping @Sendable () -> Double) -> [ToolDefinition] {
        // Prometheus stops evaluating at its own `timeout`, set to our request deadline so a
        // query we gave up on does not keep the server busy.
        let evaluationTimeout = "\(max(1, backend.timeout.components.seconds))s"
        let timeHelp = "RFC 3339, Unix seconds, or relative to now like '1h' (= one hour ago) or 'now-30m'"
        return [
            ToolDefinition(
                name: "prometheus_query", title: "Prometheus instant query",
                description: "Evaluate a PromQL expression at one instant (default: now).",
                inputSchema: Schema.object([
                    ("query", Schema.string("PromQL expression, e.g. up or rate(http_requests_total[5m])")),
                    ("time", Schema.string("Evaluation time: \(timeHelp). Default: now.")),
                ], required: ["query"]),
                annotations: .readOnly
            ) { arguments, _ in
                var query = [("query", try arguments.nonEmptyString("query")), ("timeout", evaluationTimeout)]
                if let time = try arguments.optionalString("time") {
                    query.append(("time", try PrometheusTime.resolve(time, argument: "time", now: now())))
                }
                return format.json(try await backend.json(.GET, "/api/v1/query", query: query))
            },
            ToolDefinition(
                name: "prometheus_query_range", title: "Prometheus range query",
                description: "Evaluate a PromQL expression over a time range, one point per step.",
                inputSchema: Schema.object([
                    ("query", Schema.string("PromQL expression")),
                    ("start", Schema.string("Range start: \(timeHelp).")),
                    ("end", Schema.string("Range end: \(timeHelp). Default: now.")),
                    ("step", Schema.string("Resolution: a duration like '1m' or seconds.", default: "1m")),
                ], required: ["query", "start"]),
                annotations: .readOnly
            ) { arguments, context in
                let expression = try arguments.nonEmptyString("query")
                let start = try PrometheusTime.resolve(try arguments.string("start"), argument: "start", now: now())
                let end = try PrometheusTime.resolve(try arguments.optionalString("end") ?? "now", argument: "end", now: now())
                let step = try PrometheusTime.step(try arguments.optionalString("step") ?? "1m")
                await context.progress(0, total: 1, message: "querying Prometheus")
                let result = try await backend.json(
                    .GET, "/api/v1/query_range",
                    query: [("query", expression), ("start", start), ("end", end), ("step", step), ("timeout", evaluationTimeout)])
                await context.progress(1, total: 1, message: "done")
                return format.json(result)
            },
            ToolDefinition(
                name: "prometheus_list_label_names", title: "Prometheus label names",
                description: "List every label name Prometheus knows.",
                inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/api/v1/labels"))
            },
            ToolDefinition(
                name: "prometheus_list_label_values", title: "Prometheus label values",
                description: "List the values of one label, e.g. every job.",
                inputSchema: Schema.object([("label", Schema.string("Label name, e.g. job", maxLength: 256))], required: ["label"]),
                annotations: .readOnly
            ) { arguments, _ in
                let label = try arguments.nonEmptyString("label")
                // Dots are unreserved in a path, so they would pass through encoded as they are
                // and `..` would climb out of /api/v1/label/; a `/` would be sent as %2F, which
                // a server that decodes before routing reads as a separator. The `/` is looked
                // for as a byte: followed by a combining mark it is no Character of its own.
                guard label != ".", label != "..", !label.utf8.contains(UInt8(ascii: "/")) else {
                    throw ToolError.invalidArgument("label", "is not a label name")
                }
                return format.json(try await backend.json(.GET, "/api/v1/label/\(PercentEncoding.encode(label))/values"))
            },
            ToolDefinition(
                name: "prometheus_find_series", title: "Prometheus series",
                description: "Find the series matching a selector seen within a lookback window.",
                inputSchema: Schema.object([
                    ("match", Schema.string("Series selector, e.g. up{job=\"node\"}")),
                    ("lookback", Schema.string("How far back to look, a duration like '1h'.", default: "1h")),
                ], required: ["match"]),
                annotations: .readOnly
            ) { arguments, _ in
                let match = try arguments.nonEmptyString("match")
                let lookbackText = try arguments.optionalString("lookback") ?? "1h"
                guard let lookback = PrometheusTime.durationSeconds(Substring(lookbackText.trimmingSpaces)), lookback > 0 else {
                    throw ToolError.invalidArgument("lookback", "must be a duration like '1h' or '30m'")
                }
                let current = now()
                return format.json(try await backend.json(.GET, "/api/v1/series", query: [
                    ("match[]", match), ("start", try PrometheusTime.ago(lookback, from: current, argument: "lookback")), ("end", PrometheusTime.format(current)),
                ]))
            },
            ToolDefinition(
                name: "prometheus_list_targets", title: "Prometheus targets",
                description: "List scrape targets with their health and last error.",
                inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/api/v1/targets"))
            },
            ToolDefinition(
                name: "prometheus_get_metadata", title: "Prometheus metric metadata",
                description: "Type, help and unit of metrics (all, or one metric).",
                inputSchema: Schema.object([("metric", Schema.string("Metric name; omit for every metric.", maxLength: 256))]),
                annotations: .readOnly
            ) { arguments, _ in
                var query: [(String, String)] = []
                if let metric = try arguments.optionalString("metric"), !metric.isEmpty { query.append(("metric", metric)) }
                return format.json(try await backend.json(.GET, "/api/v1/metadata", query: query))
            },
            ToolDefinition(
                name: "prometheus_list_alerts", title: "Prometheus alerts",
                description: "List the active alerts.", inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/api/v1/alerts"))
            },
            ToolDefinition(
                name: "prometheus_list_rules", title: "Prometheus rules",
                description: "List the alerting and recording rules.", inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/api/v1/rules"))
            },
            ToolDefinition(
                name: "prometheus_build_info", title: "Prometheus build info",
                description: "Version and build of the Prometheus server.", inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/api/v1/status/buildinfo"))
            },
            ToolDefinition(
                name: "prometheus_health", title: "Prometheus health",
                description: "Whether Prometheus is healthy (/-/healthy) and ready to serve queries (/-/ready).",
                inputSchema: Schema.object(),
                outputSchema: Schema.object([
                    ("healthy", ["type": "boolean"]), ("ready", ["type": "boolean"]),
                    ("healthy_status", ["type": "integer"]), ("ready_status", ["type": "integer"]),
                ], required: ["healthy", "ready"]),
                annotations: .readOnly
            ) { _, _ in
                let anyStatus = Set(200..<600)
                let healthy = try await backend.send(.GET, "/-/healthy", accept: anyStatus)
                let ready = try await backend.send(.GET, "/-/ready", accept: anyStatus)
                return .json([
                    "healthy": .bool(healthy.status == 200), "ready": .bool(ready.status == 200),
                    "healthy_status": .int(Int64(healthy.status)), "ready_status": .int(Int64(ready.status)),
                ])
            },
        ]
    }
}
