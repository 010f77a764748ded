import MCPCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds the DevOps tools from the configuration.
///
/// A backend's tools exist only when it is enabled and has a URL; read-only mode hides
/// every tool that writes; `enabledTools`/`disabledTools` globs pick among the rest. Each
/// tool's deadline is the operation timeout; each backend request's is the HTTP timeout.
public enum ToolCatalogue {
    public static func makeTools(_ settings: CatalogueSettings, client: BackendHTTPClient) -> [ToolDefinition] {
        makeTools(settings, client: client, now: wallClockSeconds)
    }

    /// As ``makeTools(_:client:)`` with the clock that resolves relative times (`1h`)
    /// injected, for tests.
    public static func makeTools(
        _ settings: CatalogueSettings, client: BackendHTTPClient, now: @escaping @Sendable () -> Double
    ) -> [ToolDefinition] {
        let format = ResultFormatter(maxBytes: max(settings.maxResultBytes, 256))
        func backend(_ name: String, _ backend: BackendSettings, _ headers: [(String, String)]) -> Backend {
            Backend(name: name, settings: backend, headers: headers, client: client, catalogue: settings)
        }
        var tools: [ToolDefinition] = []
        if let grafana = settings.grafana, grafana.isActive {
            tools += GrafanaTools.make(
                backend("grafana", grafana, bearer(grafana.token)), format: format,
                datasourceURLs: DatasourceURLPolicy(allowed: settings.grafanaDatasourceHosts), writesAllowed: !settings.readOnly)
        }
        if let prometheus = settings.prometheus, prometheus.isActive {
            var headers = bearer(prometheus.token)
            if headers.isEmpty, let user = prometheus.username, let password = prometheus.password {
                headers = [("Authorization", Base64.basicAuthorization(user: user, password: password))]
            }
            tools += PrometheusTools.make(backend("prometheus", prometheus, headers), format: format, now: now)
        }
        if let portainer = settings.portainer, portainer.isActive {
            let headers = portainer.token.isEmpty ? [] : [("X-API-Key", portainer.token)]
            tools += PortainerTools.make(backend("portainer", portainer, headers), format: format)
        }
        if let silverbullet = settings.silverbullet, silverbullet.isActive {
            tools += SilverBulletTools.make(backend("silverbullet", silverbullet, silverBulletHeaders(silverbullet.token)), format: format)
        }
        if let vikunja = settings.vikunja, vikunja.isActive {
            tools += VikunjaTools.make(backend("vikunja", vikunja, bearer(vikunja.token)), format: format)
        }
        return tools
            .filter { !(settings.readOnly && $0.writes) }
            .filter { tool in settings.enabledTools.isEmpty || settings.enabledTools.contains { Glob.matches($0, tool.name) } }
            .filter { tool in !settings.disabledTools.contains { Glob.matches($0, tool.name) } }
            .map { tool in
                var tool = tool
                tool.timeout = settings.operationTimeout
                return tool
            }
    }

    /// Problems with the settings that would make every call of a backend fail (an
    /// unparsable URL), for the configuration check at start.
    public static func validate(_ settings: CatalogueSettings) -> [String] {
        let all: [(String, BackendSettings?)] = [
            ("grafana", settings.grafana), ("prometheus", settings.prometheus), ("portainer", settings.portainer),
            ("silverbullet", settings.silverbullet), ("vikunja", settings.vikunja),
        ]
        return all.compactMap { name, backend -> String? in
            guard let backend, backend.isActive else { return nil }
            do {
                _ = try BackendURL(parsing: backend.url)
                return nil
            } catch {
                return "\(name): \(error)"
            }
        }
    }

    static func bearer(_ token: String) -> [(String, String)] {
        token.isEmpty ? [] : [("Authorization", "Bearer \(token)")]
    }

    /// SilverBullet: `user:pass` means Basic auth (SB_USER), anything else is a bearer token
    /// (SB_AUTH_TOKEN); `X-Sync-Mode: true` always.
    static func silverBulletHeaders(_ token: String) -> [(String, String)] {
        var headers = [("X-Sync-Mode", "true")]
        if let colon = token.firstIndex(of: ":") {
            let user = String(token[..<colon])
            let password = String(token[token.index(after: colon)...])
            headers.append(("Authorization", Base64.basicAuthorization(user: user, password: password)))
        } else {
            headers += bearer(token)
        }
        return headers
    }

    static let wallClockSeconds: @Sendable () -> Double = {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}

/// Tool-name globs: `*` any run of characters, `?` one character.
enum Glob {
    static func matches(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern.utf8), n = Array(name.utf8)
        var pi = 0, ni = 0, star = -1, mark = 0
        while ni < n.count {
            if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == n[ni] {
                pi += 1; ni += 1
            } else if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi; mark = ni; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ni = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
