import ArgumentParser
import Logging
import MCPCore

@main
struct AxinovaMCPServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "axinova-mcp-server",
        abstract: "A hardened MCP server for DevOps tools.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve MCP (default).")

    @Flag(help: "Serve MCP over stdin/stdout instead of the network.")
    var stdio = false

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let started = ContinuousClock.now
        let identity = ServerIdentity(name: "axinova-mcp-server", version: "0.1.0")
        let status = BuiltinTools.serverStatus {
            [
                "name": .string(identity.name),
                "version": .string(identity.version),
                "uptime_seconds": .double(Double((ContinuousClock.now - started).components.seconds)),
                "protocol_versions": .array(ProtocolVersion.all.map(JSONValue.string)),
                "tools": 1,
            ]
        }
        let dispatcher = MCPDispatcher(configuration: .init(identity: identity), registry: ToolRegistry([status]))
        await StdioTransport(dispatcher: dispatcher).run()
    }
}
