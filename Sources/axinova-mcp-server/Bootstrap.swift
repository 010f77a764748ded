import ArgumentParser
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
import TLS
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
        metrics.createAlertedSeries()
        let started = ContinuousClock.now
        let identity = ServerIdentity(name: config.server.name, version: config.server.version)
        let environment = ProcessInfo.processInfo.environment

        // Tools: the catalogue for configured backends plus the built-in status tool. Outbound
        // HTTPS goes through our OpenSSL client role (DESIGN.md principle 1).
        let backendTLS = BackendTLS(skipVerify: config.tls.skipVerify, handshakeTimeout: .seconds(Int64(max(1, min(config.timeout.http.seconds, 30)))))
        try backendTLS.preload(caFiles: backendCAFiles)
        for warning in backendTLS.startupWarnings { logger.warning("\(warning)") }
        let waits = Dictionary(uniqueKeysWithValues: [BackendHTTPClient.BackendConnectionWait.served, .timedOut].map {
            ($0, metrics.counter(.backendConnectionWaits, $0.rawValue))
        })
        let client = BackendHTTPClient(
            configuration: .init(connectTimeout: min(config.timeout.http.duration, .seconds(10)),
                                 maxConnectionsPerBackend: config.tools.maxBackendConnections,
                                 onWait: { waits[$0]?.increment() }),
            tlsHandlerProvider: backendTLS.provider)
        let settings = try catalogueSettings()
        let catalogue = ToolCatalogue.makeTools(settings, client: client)
        let live = LiveStatus()
        // What does not change, made once.
        let (name, version) = (JSONValue.string(identity.name), JSONValue.string(identity.version))
        let protocols = JSONValue.array(ProtocolVersion.supported(newestSessionEra: config.server.protocolVersion).map(JSONValue.string))
        // What the registry holds once `tools.disabled` and `tools.read_only` have applied
        // (set below, before any call): the catalogue's count overstated it. A read-only
        // token is told how many it sees, as its `tools/list` shows.
        let toolCount = Atomic<Int>(0), readOnlyToolCount = Atomic<Int>(0)
        let transport = JSONValue.string(stdio ? "stdio" : config.tls.enabled ? "https" : "http")
        let status = BuiltinTools.serverStatus { allowsWrites in
            // Built as entries, with room for the tool's `caller` too: the entries are not
            // grown, and no key is searched for (the live figures have keys of their own).
            let figures = live.snapshot()
            var entries: [JSONObject.Entry] = []
            entries.reserveCapacity(7 + figures.count)
            entries.append(.init(key: "name", value: name))
            entries.append(.init(key: "version", value: version))
            entries.append(.init(key: "uptime_seconds", value: .double((ContinuousClock.now - started).elapsedSeconds)))
            entries.append(.init(key: "protocol_versions", value: protocols))
            let tools = allowsWrites ? toolCount.load(ordering: .relaxed) : readOnlyToolCount.load(ordering: .relaxed)
            entries.append(.init(key: "tools", value: .int(Int64(tools))))
            entries.append(.init(key: "transport", value: transport))
            for entry in figures.entries { entries.append(entry) }
            return JSONObject(entries: entries)
        }
        let probeNames = [("grafana", "grafana_get_health"), ("prometheus", "prometheus_health"), ("portainer", "portainer_get_status"),
                          ("silverbullet", "silverbullet_list_pages"), ("vikunja", "vikunja_list_projects")]
        let probes = probeNames.compactMap { backend, name in catalogue.first { $0.name == name }.map { (backend: backend, tool: $0) } }
        let builtins = [status, BuiltinTools.checkBackends(probes: probes)]
        let registry = ToolRegistry(builtins + catalogue)
            // The catalogue applied tools.enabled/disabled (with globs) already; built-ins
            // can be switched off by exact name.
            .filtered(readOnly: config.tools.readOnly, disabled: config.tools.disabled)
        toolCount.store(registry.count(allowsWrites: true), ordering: .relaxed)
        readOnlyToolCount.store(registry.count(allowsWrites: false), ordering: .relaxed)
        let dispatcher = MCPDispatcher(
            configuration: .init(
                identity: identity, pageSize: config.server.pageSize, defaultToolTimeout: config.timeout.operation.duration,
                jsonLimits: .init(maxDepth: config.server.maxJsonDepth, maxBytes: Int(config.server.maxBody.bytes),
                                  maxValues: config.server.maxJsonValues),
                maxBatch: config.server.maxBatch,
                maxBatchAnswerBytes: Int(config.server.maxBatchAnswerBytes.bytes),
                newestSessionVersion: config.server.protocolVersion),
            registry: registry, observer: stdio ? nil : MetricsObserver(metrics: metrics),
            admission: stdio ? nil : ToolCallAdmission(
                maxInFlightPerToken: config.limits.maxInflightPerToken, globalMaximum: config.limits.maxInflight,
                maxRequestBytes: Int(config.limits.maxInflightRequestBytes.bytes),
                toolRate: SharedRateLimiter(name: "tool", ratePerSecond: config.limits.toolRate, burst: config.limits.toolBurst,
                                            capacity: config.limits.keyTableCapacity, metrics: metrics),
                metrics: metrics),
            logger: logger)

        if stdio {
            logger.info("serving MCP over stdio", metadata: ["tools": "\(registry.count)"])
            // One client: the per-token in-flight cap is its own. The network-wide caps, the
            // rates and the metrics have nothing to act on or export here.
            await StdioTransport(dispatcher: dispatcher, maxConcurrentRequests: config.limits.maxInflightPerToken).run()
            client.shutdown()
            return
        }

        // Fail closed (DESIGN.md principle 4).
        var store = try TokenStore.load(from: config, environment: environment)
        let loopback = Self.isLoopback(config.server.host)
        try requireListenable(tokens: store, loopback: loopback)
        if store.isEmpty {
            let token = Self.randomToken()
            store = try TokenStore([StoredToken(name: "dev", secret: token)])
            Self.announce(token: token, config: config)
        }
        for warning in config.warnings(now: Int64(Date().timeIntervalSince1970)) where !(loopback && Self.handledByDevDefaults(warning)) {
            logger.warning("\(warning)")
        }

        let authenticator = TokenAuthenticator(
            store: store, maxHeaderBytes: Int(config.auth.maxHeaderBytes.bytes),
            failureLimit: .init(auth: config.auth, capacity: config.limits.keyTableCapacity), metrics: metrics)
        let rateLimiter = SharedRateLimiter(
            name: "request", ratePerSecond: config.limits.requestRate, burst: config.limits.requestBurst,
            capacity: config.limits.keyTableCapacity, metrics: metrics)
        let options = ServerOptions(config: config)
        // Before anything keys a client: every per-address table uses it.
        ClientAddressKey.setIPv6Prefix(config.limits.ipv6Prefix)
        let server = MCPServer(
            options: options, dispatcher: dispatcher, authenticator: authenticator,
            rateLimiter: rateLimiter, metrics: metrics, logger: logger)
        live.set { server.statusSnapshot() }
        let admission = GateAdmission(
            configuration: .init(limits: config.limits), trustedProxies: options.trustedProxies, metrics: metrics)

        var security: (any ConnectionSecurity)?
        var tlsReloader: TLSContextReloader?
        if config.tls.enabled {
            let reloader = try makeTLSReloader(loopback: loopback, metrics: metrics, logger: logger)
            tlsReloader = reloader
            security = OpenSSLSecurity(
                reloader: reloader, handshakeTimeout: config.tls.handshakeTimeout.duration,
                maxBufferedCiphertext: config.tls.maxBufferedCiphertext.bytes, maxKeyUpdates: config.tls.maxKeyUpdates, metrics: metrics)
        }
        let services = server.makeServices(security: security, admission: admission, onPublicRunning: { port in
            logger.info("listening", metadata: ["address": "\(config.server.host):\(port)", "ops": "\(config.server.httpHost):\(config.server.httpPort)"])
        })
        let reloader = ReloadService(config: configOptions, authenticator: authenticator, server: server, tls: tlsReloader,
                                     pollTLS: !config.tls.reloadInterval.isZero, metrics: metrics, logger: logger)
        // Graceful shutdown (SIGTERM/SIGINT): stop accepting, /ready false, SSE streams end
        // with a final event, in-flight requests get `server.shutdown_grace`, then the rest
        // is cancelled. The supervisor, not the group, watches the signals and the deadlines,
        // so a second signal cancels at once and a stuck cancellation exits instead of crashing.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: (services + [reloader]).map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            logger: logger))
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let supervisor = ShutdownSupervisor(grace: config.server.shutdownGrace.duration,
                                            cancellationBound: config.server.shutdownCancelTimeout.duration, logger: logger, exit: { _exit($0) })
        let exitStatus = try await supervisor.run(
            signals: signals.map(\.rawValue),
            drain: { await group.triggerGracefulShutdown() },
            services: { try await group.run() })
        client.shutdown()
        if exitStatus != 0 { throw ExitCode(exitStatus) }
    }

    /// What `serve` refuses before it listens on the network, for want of tokens or of
    /// TLS (on loopback the dev defaults fill both in). `check-config` asks the same.
    func requireListenable(tokens: TokenStore, loopback: Bool) throws {
        if tokens.isEmpty, !loopback {
            throw StartupError("no tokens configured: set auth.tokens (see config/prod.yaml) before listening on \(config.server.host)")
        }
        if !config.tls.enabled, !loopback, !config.server.allowPlaintext {
            throw StartupError("refusing plaintext on \(config.server.host): enable tls or set server.allow_plaintext: true")
        }
        if config.tls.enabled, config.tls.certFile.isEmpty || config.tls.keyFile.isEmpty, !loopback {
            throw StartupError("tls.cert_file and tls.key_file are required to listen on \(config.server.host)")
        }
    }

    /// The server TLS settings for the configured files; nil when none are configured (on
    /// loopback `serve` makes development certificates then).
    func configuredTLSSettings() -> TLSServerSettings? {
        guard !config.tls.certFile.isEmpty, !config.tls.keyFile.isEmpty else { return nil }
        return tlsSettings(chain: config.tls.certFile, key: config.tls.keyFile)
    }

    func tlsSettings(chain: String, key: String) -> TLSServerSettings {
        TLSServerSettings(
            certificateChainFile: chain, privateKeyFile: key,
            profile: TLS.TLSProfile(rawValue: config.tls.profile.rawValue) ?? .intermediate,
            clientAuth: ClientAuthMode(rawValue: config.tls.clientAuth.rawValue) ?? .off,
            clientCAFile: config.tls.clientCaFile.isEmpty ? nil : config.tls.clientCaFile,
            sessionTickets: config.tls.sessionTickets)
    }

    /// Everything `serve` refuses at start, without starting: the tokens and their files,
    /// tokens and TLS for a network address, the certificate, key and client CA (loaded and
    /// matched), backend token files and CA bundles. `check-config` (run by systemd before
    /// each start) used to check the syntax and the tokens only, and passed configs `serve`
    /// then refused.
    func preflight(environment: [String: String]) throws {
        let store = try TokenStore.load(from: config, environment: environment)
        try requireListenable(tokens: store, loopback: Self.isLoopback(config.server.host))
        if config.tls.enabled, let settings = configuredTLSSettings() {
            _ = try TLSContext.server(settings)
        }
        _ = try catalogueSettings()
        try BackendTLS(skipVerify: config.tls.skipVerify, handshakeTimeout: .seconds(10)).preload(caFiles: backendCAFiles)
    }

    /// The CA bundles the tool client may need (the shared one and each backend's).
    var backendCAFiles: [String?] {
        [config.tls.caFile, config.grafana.caFile, config.portainer.caFile, config.silverbullet.caFile, config.vikunja.caFile,
         config.prometheus.caFile].map { $0.isEmpty ? nil : $0 }
    }

    /// The server context, from the configured files or, on loopback with none configured,
    /// from development certificates made on first start.
    func makeTLSReloader(loopback: Bool, metrics: ServerMetrics, logger: Logger) throws -> TLSContextReloader {
        let settings: TLSServerSettings
        if let configured = configuredTLSSettings() {
            settings = configured
        } else {
            let made = try DevCertificates.ensure(directory: Self.devCertificateDirectory)
            settings = tlsSettings(chain: made.chain, key: made.key)
            logger.notice("no certificate configured: serving development certificates", metadata: ["chain": "\(made.chain)", "ca": "\(made.ca)"])
        }
        let reloader = try TLSContextReloader(settings: settings, pollInterval: max(config.tls.reloadInterval.duration, .milliseconds(100))) { result in
            switch result {
            case .success(let context):
                metrics.counter(.configReloads, "certificate", "ok").increment()
                if let notAfter = context.certificateNotAfter { metrics.gauge(.tlsCertNotAfter).set(to: notAfter) }
                logger.notice("TLS certificate reloaded")
            case .failure(let error):
                metrics.counter(.configReloads, "certificate", "error").increment()
                logger.error("TLS certificate reload failed; still serving the previous certificate", metadata: ["error": "\(error)"])
            }
        }
        // Served anyway (nothing better is at hand), but not in silence: a reload would refuse it.
        if let problem = reloader.validityProblem {
            logger.error("the TLS certificate is outside its validity window: clients that check it will refuse it", metadata: ["error": "\(problem)"])
        }
        return reloader
    }

    static let devCertificateDirectory = "certs/out"

    func catalogueSettings() throws -> CatalogueSettings {
        /// A token from `token_file` wins over `token`; read once at start (and on restart).
        func secret(_ token: String, file: String, backend: String) throws -> String {
            guard !file.isEmpty else { return token }
            switch SecretFile.read(file, maxBytes: 8192) {
            case .success(let text): return text
            case .failure(let error): throw StartupError("\(backend).token_file: cannot read a token from \(file): \(error)")
            }
        }
        func backend(_ b: BackendConfig, _ name: String) throws -> BackendSettings {
            BackendSettings(url: b.url, token: try secret(b.token, file: b.tokenFile, backend: name), enabled: b.enabled,
                            caFile: b.caFile.isEmpty ? nil : b.caFile, timeout: b.timeout.isZero ? nil : b.timeout.duration)
        }
        let p = config.prometheus
        return CatalogueSettings(
            grafana: try backend(config.grafana.backend, "grafana"),
            prometheus: BackendSettings(url: p.url, token: try secret(p.token, file: p.tokenFile, backend: "prometheus"),
                                        username: p.username.isEmpty ? nil : p.username,
                                        password: p.password.isEmpty ? nil : p.password, enabled: p.enabled,
                                        caFile: p.caFile.isEmpty ? nil : p.caFile, timeout: p.timeout.isZero ? nil : p.timeout.duration),
            portainer: try backend(config.portainer, "portainer"), silverbullet: try backend(config.silverbullet, "silverbullet"),
            vikunja: try backend(config.vikunja, "vikunja"),
            httpTimeout: config.timeout.http.duration, operationTimeout: config.timeout.operation.duration,
            skipVerify: config.tls.skipVerify, caFile: config.tls.caFile.isEmpty ? nil : config.tls.caFile,
            maxResultBytes: Int(config.tools.maxResultBytes.bytes), readOnly: config.tools.readOnly,
            grafanaDatasourceHosts: config.grafana.datasourceHosts,
            enabledTools: config.tools.enabled, disabledTools: config.tools.disabled)
    }

    func bootstrapLogging(stdio: Bool) {
        let level = Logger.Level(rawValue: config.log.level.rawValue) ?? .info
        let json = config.log.format == .json
        LoggingSystem.bootstrap({ label, provider in
            var handler = StderrLogHandler(label: label, format: json ? .json : .console)
            handler.logLevel = level
            handler.metadataProvider = provider
            return handler
        }, metadataProvider: RequestLogMetadata.provider)
    }

    /// On loopback a missing certificate or token is filled in by the dev defaults, so the
    /// generic warnings about them would only mislead.
    static func handledByDevDefaults(_ warning: String) -> Bool {
        warning.contains("tls.cert_file") || warning.contains("no bearer tokens")
    }

    /// `localhost`, or an address literal in 127.0.0.0/8 or `::1`: a name that merely starts
    /// with "127." (`127.corp.example`) may resolve anywhere.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" { return true }
        switch IPAddress(host) {
        case .v4(let address)?: return address >> 24 == 127
        case .v6(let high, let low)?: return high == 0 && low == 1
        case nil: return false
        }
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// The embedded default run prints its one-off token once, with a client example.
    static func announce(token: String, config: AppConfig) {
        let scheme = config.tls.enabled ? "https" : "http"
        let host = config.server.host.contains(":") ? "[\(config.server.host)]" : config.server.host
        let url = "\(scheme)://\(host):\(config.server.port)/mcp"
        let text = """

        No tokens configured: generated one for this run only (loopback). Use it as a bearer token:
          MCP_TOKEN=\(token)
          curl\(config.tls.enabled && config.tls.certFile.isEmpty ? " --cacert \(devCertificateDirectory)/ca.pem" : "") -H "Authorization: Bearer $MCP_TOKEN" \\
               -H 'Accept: application/json, text/event-stream' -H 'Content-Type: application/json' \\
               -d '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}' \\
               -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/list' \(url)

        """
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// A refusal to start: printed as "Error: <description>" with exit status 1, no usage text.
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Holds the HTTP server's live figures for the status tool, set once the server exists.
///
/// The closure sits in a struct: a bare closure stored in the generic `Mutex` is
/// reabstracted on every inout access, so each `withLock { $0 }` wrapped it in two more
/// thunks, and every `server_status` call got slower (and the chain longer) than the last.
final class LiveStatus: Sendable {
    private struct Provider: Sendable { let snapshot: @Sendable () -> JSONObject }
    private let provider = Mutex<Provider?>(nil)
    func set(_ f: @escaping @Sendable () -> JSONObject) { provider.withLock { $0 = Provider(snapshot: f) } }
    func snapshot() -> JSONObject { provider.withLock { $0 }?.snapshot() ?? [:] }
}

/// SIGHUP reloads the tokens and the certificate; the certificate files are also watched
/// (mtime poll), so an ACME client that rewrites them needs no signal.
struct ReloadService: Service, CustomStringConvertible {
    var description: String { "ReloadService" }
    let config: ConfigOptions
    let authenticator: TokenAuthenticator
    let server: MCPServer
    let tls: TLSContextReloader?
    let pollTLS: Bool
    let metrics: ServerMetrics
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                if let tls, pollTLS {
                    group.addTask { await tls.run() }
                }
                group.addTask { await handleSignals(signals) }
                await group.next()
                group.cancelAll()
            }
        }
    }

    func handleSignals(_ signals: UnixSignalsSequence) async {
        for await _ in signals {
            if let tls {
                await offLoop { _ = tls.reload() }
            }
            let config = self.config
            let loaded = await offLoop { () -> Result<TokenStore, any Error> in
                Result { try TokenStore.load(from: config.load(), environment: ProcessInfo.processInfo.environment) }
            }
            do {
                let store = try loaded.get()
                if store.isEmpty { throw StartupError("reload would leave no tokens") }
                authenticator.replace(store: store)
                server.endSessionsOfRevokedTokens()
                metrics.counter(.configReloads, "tokens", "ok").increment()
                logger.notice("tokens reloaded", metadata: ["count": "\(store.count)"])
            } catch {
                metrics.counter(.configReloads, "tokens", "error").increment()
                logger.error("token reload failed; keeping the current tokens", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// Runs blocking work (file reads, building an SSL_CTX) on a dispatch queue, not on a
/// thread of Swift Concurrency's small cooperative pool, which serves every request.
func offLoop<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}

extension Duration {
    var elapsedSeconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
