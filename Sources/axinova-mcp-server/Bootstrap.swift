import Auth
import Config
import Foundation
import Logging
import MCPCore
import MCPServerKit
import NIOCore
import Prometheus
import RateLimit
import ServiceLifecycle
import Synchronization
import Tools
import UnixSignals

/// Turns a validated configuration into running services.
struct Bootstrap {
    let config: AppConfig
    let configOptions: ConfigOptions

    func run(stdio: Bool) async throws {
        bootstrapLogging(stdio: stdio)
        let logger = Logger(label: "axinova-mcp-server")
        let metrics = ServerMetrics()
        let started = ContinuousClock.now
        let identity = ServerIdentity(name: config.server.name, version: config.server.version)
        let environment = ProcessInfo.processInfo.environment

        // Tools: the catalogue for configured backends plus the built-in status tool.
        let client = BackendHTTPClient(configuration: .init(connectTimeout: min(config.timeout.http.duration, .seconds(10))))
        let catalogue = ToolCatalogue.makeTools(catalogueSettings(), client: client)
        let live = LiveStatus()
        let status = BuiltinTools.serverStatus {
            var object: JSONObject = [
                "name": .string(identity.name),
                "version": .string(identity.version),
                "uptime_seconds": .double((ContinuousClock.now - started).secondsDouble),
                "protocol_versions": .array(ProtocolVersion.all.map(JSONValue.string)),
                "tools": .int(Int64(catalogue.count + 2)),
                "transport": .string(stdio ? "stdio" : "https"),
            ]
            for (key, value) in live.snapshot() { object[key] = value }
            return object
        }
        let probeNames = [("grafana", "grafana_get_health"), ("prometheus", "prometheus_health"), ("portainer", "portainer_get_status"),
                          ("silverbullet", "silverbullet_list_pages"), ("vikunja", "vikunja_list_projects")]
        let probes = probeNames.compactMap { backend, name in catalogue.first { $0.name == name }.map { (backend: backend, tool: $0) } }
        let builtins = [status, BuiltinTools.checkBackends(probes: probes)]
        let registry = ToolRegistry(builtins + catalogue)
            // The catalogue applied tools.enabled/disabled (with globs) already; built-ins
            // can be switched off by exact name.
            .filtered(readOnly: config.tools.readOnly, disabled: config.tools.disabled)
        let dispatcher = MCPDispatcher(
            configuration: .init(
                identity: identity, pageSize: config.server.pageSize, defaultToolTimeout: config.timeout.operation.duration,
                jsonLimits: .init(maxDepth: config.server.maxJsonDepth, maxBytes: Int(config.server.maxBody.bytes))),
            registry: registry, observer: stdio ? nil : MetricsObserver(metrics: metrics),
            admission: stdio ? nil : ToolCallAdmission(
                maxInFlightPerToken: config.limits.maxInflightPerToken, globalMaximum: config.limits.maxInflightPerToken * 64,
                toolRate: SharedRateLimiter(name: "tool", ratePerSecond: config.limits.toolRate, burst: config.limits.toolBurst,
                                            capacity: config.limits.keyTableCapacity, metrics: metrics),
                metrics: metrics),
            logger: logger)

        if stdio {
            logger.info("serving MCP over stdio", metadata: ["tools": "\(registry.count)"])
            await StdioTransport(dispatcher: dispatcher).run()
            client.shutdown()
            return
        }

        // Fail closed (DESIGN.md principle 4).
        var store = try TokenStore.load(from: config, environment: environment)
        let loopback = Self.isLoopback(config.server.host)
        if store.isEmpty {
            guard loopback else {
                throw StartupError("no tokens configured: set auth.tokens (see config/prod.yaml) before listening on \(config.server.host)")
            }
            let token = Self.randomToken()
            store = try TokenStore([StoredToken(name: "dev", secret: token)])
            Self.announce(token: token, config: config)
        }
        if !config.tls.enabled, !loopback, !config.server.allowPlaintext {
            throw StartupError("refusing plaintext on \(config.server.host): enable tls or set server.allow_plaintext: true")
        }
        for warning in config.warnings() { logger.warning("\(warning)") }

        let authenticator = TokenAuthenticator(
            store: store, maxHeaderBytes: Int(config.auth.maxHeaderBytes.bytes),
            failureLimit: .init(auth: config.auth, capacity: config.limits.keyTableCapacity), metrics: metrics)
        let rateLimiter = SharedRateLimiter(
            name: "request", ratePerSecond: config.limits.requestRate, burst: config.limits.requestBurst,
            capacity: config.limits.keyTableCapacity, metrics: metrics)
        let server = MCPServer(
            options: ServerOptions(config: config), dispatcher: dispatcher, authenticator: authenticator,
            rateLimiter: rateLimiter, metrics: metrics, logger: logger)
        live.set { server.statusSnapshot() }
        let admission = GateAdmission(configuration: .init(limits: config.limits), metrics: metrics)

        let services = server.makeServices(security: nil, admission: admission, onPublicRunning: { port in
            logger.info("listening", metadata: ["address": "\(config.server.host):\(port)", "ops": "\(config.server.httpHost):\(config.server.httpPort)"])
        })
        let reloader = TokenReloader(config: configOptions, authenticator: authenticator, metrics: metrics, logger: logger)
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) } + [.init(service: reloader)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        client.shutdown()
    }

    func catalogueSettings() -> CatalogueSettings {
        func backend(_ b: BackendConfig) -> BackendSettings { BackendSettings(url: b.url, token: b.token, enabled: b.enabled) }
        let p = config.prometheus
        return CatalogueSettings(
            grafana: backend(config.grafana),
            prometheus: BackendSettings(url: p.url, token: p.token, username: p.username.isEmpty ? nil : p.username,
                                        password: p.password.isEmpty ? nil : p.password, enabled: p.enabled),
            portainer: backend(config.portainer), silverbullet: backend(config.silverbullet), vikunja: backend(config.vikunja),
            httpTimeout: config.timeout.http.duration, operationTimeout: config.timeout.operation.duration,
            skipVerify: config.tls.skipVerify, caFile: config.tls.caFile.isEmpty ? nil : config.tls.caFile,
            maxResultBytes: Int(config.tools.maxResultBytes.bytes), readOnly: config.tools.readOnly,
            enabledTools: config.tools.enabled, disabledTools: config.tools.disabled)
    }

    func bootstrapLogging(stdio: Bool) {
        let level = Logger.Level(rawValue: config.log.level.rawValue) ?? .info
        let json = config.log.format == .json
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// The embedded default run prints its one-off token once, with a client example.
    static func announce(token: String, config: AppConfig) {
        let scheme = config.tls.enabled ? "https" : "http"
        let url = "\(scheme)://\(config.server.host):\(config.server.port)/mcp"
        let text = """

        No tokens configured: generated one for this run only (loopback). Use it as a bearer token:
          MCP_TOKEN=\(token)
          curl\(config.tls.enabled ? " --cacert certs/out/ca.pem" : "") -H "Authorization: Bearer $MCP_TOKEN" \\
               -H 'Accept: application/json, text/event-stream' -H 'Content-Type: application/json' \\
               -d '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}' \\
               -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/list' \(url)

        """
        FileHandle.standardError.write(Data(text.utf8))
    }
}

struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Holds the HTTP server's live figures for the status tool, set once the server exists.
final class LiveStatus: Sendable {
    private let provider = Mutex<(@Sendable () -> JSONObject)?>(nil)
    func set(_ f: @escaping @Sendable () -> JSONObject) { provider.withLock { $0 = f } }
    func snapshot() -> JSONObject { provider.withLock { $0 }?() ?? [:] }
}

/// Reloads the tokens on SIGHUP (certificates reload on their own file watch).
struct TokenReloader: Service {
    let config: ConfigOptions
    let authenticator: TokenAuthenticator
    let metrics: ServerMetrics
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                do {
                    let fresh = try config.load()
                    let store = try TokenStore.load(from: fresh, environment: ProcessInfo.processInfo.environment)
                    if store.isEmpty { throw StartupError("reload would leave no tokens") }
                    authenticator.replace(store: store)
                    metrics.counter(.configReloads, "tokens", "ok").increment()
                    logger.notice("tokens reloaded", metadata: ["count": "\(store.count)"])
                } catch {
                    metrics.counter(.configReloads, "tokens", "error").increment()
                    logger.error("token reload failed; keeping the current tokens", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

extension Duration {
    var secondsDouble: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
