import MCPCore
import Testing
@testable import Tools

/// tools-catalogue.md: every Go tool name, the additions, schemas, annotations and the
/// rules that pick which tools exist.
@Suite struct CatalogueTests {
    static let goNames = [
        "grafana_list_dashboards", "grafana_get_dashboard", "grafana_create_dashboard", "grafana_delete_dashboard",
        "grafana_list_datasources", "grafana_create_datasource", "grafana_query_datasource", "grafana_list_alert_rules",
        "grafana_get_health",
        "prometheus_query", "prometheus_query_range", "prometheus_list_label_names", "prometheus_list_label_values",
        "prometheus_find_series", "prometheus_list_targets", "prometheus_get_metadata",
        "portainer_list_containers", "portainer_start_container", "portainer_stop_container", "portainer_restart_container",
        "portainer_get_container_logs", "portainer_inspect_container", "portainer_list_stacks", "portainer_get_stack",
        "silverbullet_list_pages", "silverbullet_get_page", "silverbullet_create_page", "silverbullet_update_page",
        "silverbullet_delete_page", "silverbullet_search_pages",
        "vikunja_list_projects", "vikunja_get_project", "vikunja_create_project", "vikunja_list_tasks",
        "vikunja_create_task", "vikunja_get_task", "vikunja_update_task", "vikunja_delete_task",
    ]
    static let additions = [
        "grafana_search", "grafana_get_datasource", "prometheus_list_alerts", "prometheus_list_rules",
        "prometheus_build_info", "prometheus_health", "portainer_list_endpoints", "portainer_get_stack_file",
        "portainer_get_status",
    ]

    static func all(readOnly: Bool = false, enabled: [String] = [], disabled: [String] = []) -> CatalogueSettings {
        let b = BackendSettings(url: "http://127.0.0.1:9", token: "t")
        return CatalogueSettings(grafana: b, prometheus: b, portainer: b, silverbullet: b, vikunja: b,
                                 readOnly: readOnly, enabledTools: enabled, disabledTools: disabled)
    }

    @Test func everyGoToolAndEveryAdditionExistsOnce() {
        let names = tools(Self.all()).map(\.name)
        #expect(Self.goNames.count == 38)
        #expect(Set(names) == Set(Self.goNames + Self.additions))
        #expect(names.count == Set(names).count)
    }

    /// Arguments are checked by `ToolInputValidator`, which knows a subset of JSON Schema: a
    /// keyword outside it (or `type` written as a list) would be published to the model and
    /// never enforced, so every schema, at every depth, keeps to that subset.
    @Test func schemasUseOnlyWhatTheValidatorChecks() {
        let checked: Set<String> = ["type", "required", "properties", "enum", "additionalProperties", "items",
                                    "minimum", "maximum", "minLength", "maxLength"]
        let annotations: Set<String> = ["description", "default", "title", "examples"]
        func walk(_ schema: JSONValue, _ path: String) {
            guard let object = schema.objectValue else {
                Issue.record("\(path): a schema that is not an object")
                return
            }
            for key in object.keys where !checked.contains(key) && !annotations.contains(key) {
                Issue.record("\(path): \(key) is not checked by ToolInputValidator")
            }
            if let type = object["type"] {
                #expect(["string", "integer", "number", "boolean", "object", "array", "null"].contains(type.stringValue ?? ""),
                        "\(path): type \(type.serializedString())")
            }
            for (name, property) in object["properties"]?.objectValue ?? [:] { walk(property, "\(path).\(name)") }
            if let items = object["items"] { walk(items, "\(path)[]") }
            if let extra = object["additionalProperties"], extra != .bool(false) {
                Issue.record("\(path): additionalProperties other than false")
            }
        }
        for tool in tools(Self.all()) { walk(tool.inputSchema, tool.name) }
    }

    /// MCP 2025-11-25 server/tools.mdx "Tool": inputSchema is a JSON Schema object; every
    /// required property is declared, with a type and a description.
    @Test func schemasAreCompleteObjects() {
        for tool in tools(Self.all()) {
            #expect(tool.inputSchema["type"] == "object", "\(tool.name)")
            guard let properties = tool.inputSchema["properties"]?.objectValue else {
                Issue.record("\(tool.name) has no properties")
                continue
            }
            for (name, schema) in properties {
                #expect(schema["type"]?.stringValue != nil, "\(tool.name).\(name) has no type")
                #expect(schema["description"]?.stringValue?.isEmpty == false, "\(tool.name).\(name) has no description")
            }
            for required in tool.inputSchema["required"]?.arrayValue ?? [] {
                #expect(properties[required.stringValue ?? ""] != nil, "\(tool.name) requires undeclared \(required)")
            }
            #expect(!tool.description.isEmpty)
            #expect(tool.annotations.readOnlyHint != nil, "\(tool.name) has no readOnlyHint")
            #expect(tool.timeout == .seconds(60))
        }
    }

    @Test func annotationsMatchWhatToolsDo() {
        let byName = Dictionary(uniqueKeysWithValues: tools(Self.all()).map { ($0.name, $0) })
        for name in ["grafana_delete_dashboard", "portainer_stop_container", "silverbullet_delete_page", "vikunja_delete_task"] {
            #expect(byName[name]?.annotations.destructiveHint == true, "\(name)")
        }
        for name in Self.goNames + Self.additions where name.contains("_list_") || name.contains("_get_") {
            #expect(byName[name]?.annotations.readOnlyHint == true, "\(name)")
        }
        #expect(byName["vikunja_create_task"]?.writes == true)
    }

    @Test func readOnlyModeHidesEveryWriter() {
        let names = Set(tools(Self.all(readOnly: true)).map(\.name))
        #expect(!names.isEmpty)
        for tool in tools(Self.all()) {
            #expect(names.contains(tool.name) == !tool.writes, "\(tool.name)")
        }
        #expect(!names.contains("grafana_create_dashboard"))
        #expect(names.contains("prometheus_query"))
    }

    @Test func unconfiguredDisabledOrURLlessBackendsHaveNoTools() {
        #expect(tools(CatalogueSettings()).isEmpty)
        let settings = CatalogueSettings(
            grafana: BackendSettings(url: "http://x", enabled: false), prometheus: BackendSettings(url: ""))
        #expect(tools(settings).isEmpty)
        let one = tools(CatalogueSettings(vikunja: BackendSettings(url: "http://x"))).map(\.name)
        #expect(one.count == 8 && one.allSatisfy { $0.hasPrefix("vikunja_") })
    }

    @Test func enabledAndDisabledGlobsPickTools() {
        let names = tools(Self.all(enabled: ["prometheus_*", "grafana_get_?ealth"], disabled: ["*_query_range"])).map(\.name)
        #expect(names.contains("prometheus_query"))
        #expect(names.contains("grafana_get_health"))
        #expect(!names.contains("prometheus_query_range"))
        #expect(!names.contains("grafana_list_dashboards"))
        #expect(Glob.matches("*", "anything"))
        #expect(!Glob.matches("a*c", "abd"))
    }

    @Test func validateReportsBadURLs() {
        let problems = ToolCatalogue.validate(CatalogueSettings(
            grafana: BackendSettings(url: "ftp://x"), prometheus: BackendSettings(url: "http://ok:9090")))
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("grafana:") == true)
    }
}

/// The dispatcher validates arguments with MCPCore's ToolInputValidator before a handler
/// runs: the schemas must accept what the handlers accept, and refuse bad types by name.
@Suite struct SchemaValidatorAgreementTests {
    static func sample(_ schema: JSONValue) -> JSONValue {
        switch schema["type"]?.stringValue {
        case "integer": schema["minimum"]?.intValue.map { .int(max($0, 1)) } ?? 1
        case "boolean": true
        case "object": ["title": "x"]
        default: "up"
        }
    }

    @Test func minimalValidArgumentsPassTheValidatorForEveryTool() {
        for tool in tools(CatalogueTests.all()) {
            let properties = tool.inputSchema["properties"]?.objectValue ?? [:]
            var arguments = JSONObject()
            for case .string(let name) in tool.inputSchema["required"]?.arrayValue ?? [] {
                arguments[name] = Self.sample(properties[name] ?? [:])
            }
            #expect(ToolInputValidator.validate(arguments, against: tool.inputSchema) == nil, "\(tool.name)")
            var all = JSONObject()
            for (name, schema) in properties { all[name] = Self.sample(schema) }
            #expect(ToolInputValidator.validate(all, against: tool.inputSchema) == nil, "\(tool.name) with every argument")
        }
    }

    @Test func wrongTypesAndUnknownArgumentsAreRefusedByName() {
        let byName = Dictionary(uniqueKeysWithValues: tools(CatalogueTests.all()).map { ($0.name, $0) })
        let tail = byName["portainer_get_container_logs"]!.inputSchema
        #expect(ToolInputValidator.validate(["container_id": "a", "tail": "many"], against: tail)?.contains("'tail'") == true)
        #expect(ToolInputValidator.validate(["container_id": "a", "tail": 0], against: tail)?.contains("at least 1") == true)
        #expect(ToolInputValidator.validate(["container_id": "a", "bogus": 1], against: tail) == "unknown argument 'bogus'")
        #expect(ToolInputValidator.validate([:], against: tail) == "missing required argument 'container_id'")
    }
}
