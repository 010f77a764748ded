import ArgumentParser
import Logging
import MCPCore
import MCPServerKit
import ServiceLifecycle
import UnixSignals

@main
struct AxinovaMCPServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "axinova-mcp-server",
        abstract: "A hardened MCP server for DevOps tools.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )
}

/// Temporary: one token compared without an early exit (replaced by the Auth module).
struct SingleTokenAuthenticator: RequestAuthenticator {
    let token: [UInt8]
    func authenticate(authorization: String?, clientAddress: String) -> AuthOutcome {
        guard let authorization else {
            return .denied(reason: "missing", message: "Missing Authorization header", tokenPresented: false, retryAfter: nil)
        }
        guard authorization.lowercased().hasPrefix("bearer ") else {
            return .denied(reason: "malformed", message: "Invalid Authorization header format", tokenPresented: false, retryAfter: nil)
        }
        let presented = Array(authorization.utf8.dropFirst(7))
        var difference = UInt8(presented.count == token.count ? 0 : 1)
        for i in 0..<token.count { difference |= token[i] ^ (i < presented.count ? presented[i] : 0) }
        return difference == 0 ? .allowed(.init(name: "default", allowsWrites: true))
            : .denied(reason: "invalid", message: "Invalid API token", tokenPresented: true, retryAfter: nil)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve MCP (default).")

    @Flag(help: "Serve MCP over stdin/stdout instead of the network.")
    var stdio = false

    @Option(help: "Public port (temporary flag).") var port = 8443
    @Option(help: "Ops port (temporary flag).") var opsPort = 9001
    @Option(help: "Token (temporary flag).") var token: String?
    @Option(help: "Response mode json|sse (temporary flag).") var responseMode = "json"
    @Option(help: "Page size (temporary flag).") var pageSize = 50

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "axinova-mcp-server")
        let started = ContinuousClock.now
        let identity = ServerIdentity(name: "axinova-mcp-server", version: "0.1.0")
        let snapshot = SnapshotBox()
        let status = BuiltinTools.serverStatus {
            var object: JSONObject = [
                "name": .string(identity.name),
                "version": .string(identity.version),
                "uptime_seconds": .double(Double((ContinuousClock.now - started).components.seconds)),
                "protocol_versions": .array(ProtocolVersion.all.map(JSONValue.string)),
                "tools": 1,
            ]
            for (k, v) in snapshot.get() { object[k] = v }
            return object
        }
        let metrics = ServerMetrics()
        let dispatcher = MCPDispatcher(configuration: .init(identity: identity, pageSize: pageSize), registry: ToolRegistry([status]), observer: nil)
        if stdio {
            await StdioTransport(dispatcher: dispatcher).run()
            return
        }
        var options = ServerOptions(identity: identity)
        options.port = port
        options.opsPort = opsPort
        options.responseMode = ServerOptions.ResponseMode(rawValue: responseMode) ?? .json
        let secret = token ?? "dev-token"
        let server = MCPServer(options: options, dispatcher: dispatcher, authenticator: SingleTokenAuthenticator(token: Array(secret.utf8)), metrics: metrics, logger: logger)
        snapshot.set { server.statusSnapshot() }
        let group = ServiceGroup(services: server.makeServices(security: nil, admission: nil, onPublicRunning: { port in
            logger.info("listening", metadata: ["port": "\(port)"])
        }), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

import Synchronization
final class SnapshotBox: Sendable {
    let value = Mutex<(@Sendable () -> JSONObject)?>(nil)
    func set(_ f: @escaping @Sendable () -> JSONObject) { value.withLock { $0 = f } }
    func get() -> JSONObject { value.withLock { $0 }?() ?? [:] }
}
