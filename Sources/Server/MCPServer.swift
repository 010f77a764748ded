import Synchronization
import Foundation
import Prometheus
import Hummingbird
import HummingbirdCore
import Logging
import MCPCore
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The HTTP side of the server: the public listener with every MCP transport, the ops
/// listener, and the background work (session expiry, draining at shutdown).
public struct MCPServer: Sendable {
    public let options: ServerOptions
    public let dispatcher: MCPDispatcher
    public let metrics: ServerMetrics
    public let readiness = Readiness()
    /// Stops the public listeners together at graceful shutdown (``ShutdownStart``).
    let listenerDrain = ListenerDrain()
    let sessions: SessionStore
    let streams: StreamTracker
    let authenticator: any RequestAuthenticator
    let rateLimiter: SharedRateLimiter?
    /// `limits.max_unsent_bytes`, shared by every public port.
    let unsentBudget: SharedByteBudget
    /// `limits.max_buffered_body_bytes`, shared by every public port.
    let bodyBudget: SharedByteBudget
    let logger: Logger

    public init(options: ServerOptions, dispatcher: MCPDispatcher, authenticator: any RequestAuthenticator, rateLimiter: SharedRateLimiter? = nil, metrics: ServerMetrics, logger: Logger) {
        self.options = options
        self.rateLimiter = rateLimiter
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.authenticator = authenticator
        self.logger = logger
        sessions = SessionStore(maxSessions: options.maxSessions, maxPerOwner: options.maxSessionsPerToken, idleTimeout: options.sessionIdleTimeout,
                                metrics: metrics, replayLimits: options.resumability ? (options.replayBufferEvents, options.replayBufferBytes, options.replayMaxStreams) : nil)
        unsentBudget = SharedByteBudget.unsent(capacity: options.maxUnsentBytes, metrics: metrics)
        bodyBudget = SharedByteBudget.bodies(capacity: options.maxBufferedBodyBytes, metrics: metrics)
        streams = StreamTracker(maxStreams: options.maxSSEStreams, maxPerOwner: options.maxSSEStreamsPerToken, metrics: metrics)
        metrics.gauge(.toolsRegistered).set(to: Double(dispatcher.registry.count))
        metrics.gauge(.resourcesRegistered).set(to: 0)
    }

    /// Live figures for `/status` and the `server_status` tool.
    public func statusSnapshot() -> JSONObject {
        ["sessions": .int(Int64(sessions.count)), "sse_streams": .int(Int64(streams.count)), "ready": .string(readiness.current.rawValue)]
    }

    /// The routes of the public listener(s). Also used by the `http_pipeline` fuzz target.
    func makePublicResponder() -> PublicRoutes {
        var routes = PublicRoutes(gate: RequestGate(origins: OriginPolicy(allowed: options.allowedOrigins), authenticator: authenticator,
                                                    trustedProxies: options.trustedProxies, rateLimiter: rateLimiter, metrics: metrics))

        let streamable = StreamableHTTPTransport(dispatcher: dispatcher, sessions: sessions, streams: streams, options: options, metrics: metrics,
                                                 bodies: bodyBudget, unsent: unsentBudget)
        routes.on(.post, "/mcp") { request, context in await streamable.post(request, context: context) }
        // Routed only when enabled, so that a 405 for another method does not list GET.
        if options.getStreamEnabled {
            routes.on(.get, "/mcp") { request, context in await streamable.get(request, context: context) }
        }
        routes.on(.delete, "/mcp") { request, context in await streamable.delete(request, context: context) }

        let legacy = LegacySSETransport(dispatcher: dispatcher, sessions: sessions, streams: streams, options: options, metrics: metrics,
                                        bodies: bodyBudget, unsent: unsentBudget)
        // A route answers 405 with `Allow` for the methods it is not routed for (PublicRoutes):
        // 2025-03-26 transports.mdx "Backwards Compatibility" needs POST /sse to be one, so
        // new clients fall back correctly.
        routes.on(.get, "/sse") { request, context in await legacy.open(request, context: context, flavour: .mcp) }
        routes.on(.post, "/messages") { request, context in await legacy.message(request, context: context) }

        let api = GoAPITransport(dispatcher: dispatcher, options: options, metrics: metrics, bodies: bodyBudget)
        if options.apiEnabled {
            routes.on(.post, "/api/mcp/v1/call") { request, context in await api.call(request, context: context, transport: "http_api") }
            routes.onGetAndHead("/api/mcp/v1/tools") { _, context in api.tools(context: context) }
        }
        if options.goSSEEnabled {
            routes.on(.get, "/api/mcp/v1/sse") { request, context in await legacy.open(request, context: context, flavour: .goAPI) }
            routes.on(.post, "/api/mcp/v1/sse/rpc") { request, context in await api.call(request, context: context, transport: "sse") }
        }
        return routes
    }

    /// One public connection's channel set-up (deadlines, HTTP/1 with our caps, guards,
    /// TLS when `security` is given). Also used by the `http_pipeline` fuzz target.
    func makeChildChannel(
        responder: RequestRunner.Responder,
        security: (any ConnectionSecurity)?,
        admission: (any ConnectionAdmission)?,
        unsent: SharedByteBudget? = nil,
        extraHandlers: @escaping @Sendable () -> [any ChannelHandler] = { [] }
    ) -> PublicChildChannel {
        var decoderLimits = HTTPRequestParser.Limits()
        decoderLimits.maxHeaderBytes = options.maxHeaderBytes
        decoderLimits.maxHeaderCount = options.maxHeaderCount
        return PublicChildChannel(runner: RequestRunner(responder: responder, logger: logger),
                                  security: security, admission: admission, extraHandlers: extraHandlers, decoderLimits: decoderLimits,
                                  headerTimeout: TimeAmount(options.headerTimeout), idleTimeout: TimeAmount(options.idleTimeout),
                                  lingerTimeout: TimeAmount(options.lingerTimeout), unsent: unsent, metrics: metrics)
    }

    /// The ops listener's connections: plaintext, capped at `server.http_max_connections`,
    /// under the public listener's header, idle and linger deadlines and head caps (a
    /// scraper's requests are small and quick, so the same bounds fit).
    func makeOpsChildChannel(mode: String) -> PublicChildChannel {
        let server = self
        let routes = OpsRoutes.routes(identity: options.identity, protocolVersion: dispatcher.configuration.newestSessionVersion,
                                      mode: mode, allowedHosts: options.opsAllowedHosts, readiness: readiness, metrics: metrics, status: { server.statusSnapshot() })
        var child = makeChildChannel(responder: routes, security: nil, admission: OpsAdmission(maxConnections: options.opsMaxConnections, metrics: metrics))
        child.listener = .ops
        return child
    }

    /// The services to run in one ServiceGroup, which shuts them down one at a time in the
    /// reverse of this order:
    /// 1. ``ShutdownStart`` (listed last): `/ready` false, the listening SSE streams end with
    ///    a final event (they would hold their connections for the whole grace);
    /// 2. the public listener(s): no new connections, requests in flight finish within
    ///    `server.shutdown_grace`, answered on their own streams included;
    /// 3. ``Housekeeping``: the sessions are closed, once nothing is running in them;
    /// 4. the ops listener (listed first): `/ready` answers 503 and `/metrics` is scraped
    ///    for as long as the drain takes.
    public func makeServices(
        security: (any ConnectionSecurity)?,
        admission: (any ConnectionAdmission)?,
        extraHandlers: @escaping @Sendable () -> [any ChannelHandler] = { [] },
        onPublicRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> [any Service] {
        var services: [any Service] = []
        if options.opsEnabled {
            services.append(PublicListener(host: options.opsHost, port: options.opsPort, child: makeOpsChildChannel(mode: security == nil ? "http" : "https"),
                                           group: MultiThreadedEventLoopGroup.singleton, logger: logger, sendTimeout: options.sendTimeout,
                                           backlog: options.listenBacklog) { _ in })
        }
        services.append(Housekeeping(server: self))
        let child = makeChildChannel(responder: makePublicResponder(), security: security, admission: admission, unsent: unsentBudget,
                                     extraHandlers: extraHandlers)
        let ports = [options.port] + options.extraPorts
        // Ready once every public port is bound (a port that fails to bind must not have
        // been announced as ready first).
        let bound = Atomic<Int>(0)
        let readiness = self.readiness
        for (index, port) in ports.enumerated() {
            services.append(PublicListener(host: options.host, port: port, child: child, group: MultiThreadedEventLoopGroup.singleton, logger: logger,
                                           drain: listenerDrain, sendTimeout: options.sendTimeout, backlog: options.listenBacklog) { boundPort in
                if index == 0 { await onPublicRunning(boundPort) }
                if bound.add(1, ordering: .relaxed).newValue == ports.count { readiness.set(.ready) }
            })
        }
        services.append(ShutdownStart(server: self))
        return services
    }
}

extension MCPServer {
    /// Ends the sessions (and their streams) of tokens no longer accepted as they were:
    /// called after a token reload, and by the housekeeping sweep, which also catches tokens
    /// that expired.
    public func endSessionsOfRevokedTokens() {
        let authenticator = self.authenticator
        let ended = sessions.revoke { authenticator.isCurrent(principal: $0) }
        if ended > 0 { logger.notice("ended sessions of revoked or expired tokens", metadata: ["sessions": "\(ended)"]) }
    }
}

/// Expires idle sessions and those of revoked tokens; at graceful shutdown, which reaches it
/// once the public listeners have finished their requests, closes the sessions.
struct Housekeeping: Service, CustomStringConvertible {
    var description: String { "Housekeeping" }
    let server: MCPServer

    func run() async throws {
        let period = max(Duration.seconds(1), min(server.options.sessionIdleTimeout / 4, .seconds(30)))
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                server.sessions.expireIdle()
                server.endSessionsOfRevokedTokens()
            }
        }
        server.sessions.removeAll()
        server.logger.info("closed the sessions for shutdown")
    }
}

/// The first step of a graceful shutdown: `/ready` turns false and the listening SSE streams
/// end with a final `shutdown` event, before the listeners wait for their connections.
struct ShutdownStart: Service, CustomStringConvertible {
    var description: String { "ShutdownStart" }
    let server: MCPServer

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        }
        server.readiness.set(.draining)
        server.listenerDrain.start()
        server.streams.drain()
        server.logger.info("draining: not ready, listening SSE streams ended")
    }
}
