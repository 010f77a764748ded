import ArgumentParser
import Auth
import Config
import Foundation
import Logging
import MCPServerKit
import NIOCore
import NIOPosix
import TLS

/// The process entry: sizes NIO's event loop group before anything uses it.
///
/// Measured and rejected (2026-11-30): making the event loops Swift Concurrency's global
/// executor (`NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor`)
/// cost 15-40 % more CPU per request here, because a connection's task then often runs on
/// another loop than its channel; the default cooperative pool stays.
@main
enum Entry {
    static func main() async {
        // SIGHUP asks for a reload, which `ReloadService` handles once the server runs. Before
        // that its default action would end the process: `systemctl reload` right after a
        // start (an ACME hook) stopped the server, and systemd, counting SIGHUP as a clean
        // exit, did not restart it. Start-up reads the files anyway.
        signal(SIGHUP, SIG_IGN)
        #if os(Linux)
        let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        #else
        let status: String? = nil
        #endif
        if let count = EventLoopCount.suggestion(environment: ProcessInfo.processInfo.environment,
                                                 coreCount: System.coreCount, processStatus: status) {
            NIOSingletons.groupLoopCountSuggestion = count
        }
        await AxinovaMCPServer.main()
    }
}

struct AxinovaMCPServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "axinova-mcp-server",
        abstract: "A hardened MCP server for DevOps tools (Grafana, Prometheus, Portainer, SilverBullet, Vikunja).",
        subcommands: [Serve.self, CheckConfig.self, HashToken.self, CertThumbprint.self],
        defaultSubcommand: Serve.self
    )
}

/// Where the configuration comes from (the layers are described in config/base.yaml).
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config-dir"), help: "Directory holding base.yaml and <env>.yaml.")
    var configDirectory = "config"

    @Option(help: "Environment name: loads <config-dir>/<env>.yaml (default: $ENV, else dev).")
    var env: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override one key, e.g. --set server.port=9443 (repeatable).", valueName: "key.path=value"))
    var overrides: [String] = []

    func load() throws -> AppConfig {
        do {
            return try ConfigLoader.load(directory: configDirectory, env: env, environment: ProcessInfo.processInfo.environment, overrides: overrides)
        } catch {
            throw StartupError("configuration error: \(error)")
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve MCP over HTTPS (default) or stdio.")

    @OptionGroup var config: ConfigOptions

    @Flag(help: "Serve MCP over stdin/stdout instead of the network.")
    var stdio = false

    func run() async throws {
        let appConfig = try config.load()
        try await Bootstrap(config: appConfig, configOptions: config).run(stdio: stdio)
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Load and validate the configuration, print it with secrets masked, and list unsafe settings.")

    @OptionGroup var config: ConfigOptions

    func run() async throws {
        let appConfig = try config.load()
        do {
            try Bootstrap(config: appConfig, configOptions: config).preflight(environment: ProcessInfo.processInfo.environment)
        } catch let error as StartupError {
            throw error
        } catch {
            throw StartupError("configuration error: \(error)")
        }
        print(appConfig.rendered(redacted: true), terminator: "")
        for warning in appConfig.warnings(now: Int64(Date().timeIntervalSince1970)) {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
    }
}

struct HashToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-token",
        abstract: "Print the sha256:<hex> digest of a token for auth.tokens[].sha256 (reads the token from stdin when not given).")

    @Argument(help: "The token. Prefer stdin: arguments show up in the process list and shell history.")
    var token: String?

    func run() async throws {
        var secret = token ?? ""
        if token == nil {
            // Read up to the cap and one byte past it, never the whole input (`yes | hash-token`).
            let cap = 4096
            var data = Data()
            while data.count <= cap, let chunk = try FileHandle.standardInput.read(upToCount: cap + 1 - data.count), !chunk.isEmpty {
                data.append(chunk)
            }
            guard data.count <= cap else { throw ValidationError("token longer than \(cap) bytes") }
            secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
        }
        guard !secret.isEmpty else { throw ValidationError("empty token") }
        if secret.utf8.count < 32 {
            FileHandle.standardError.write(Data("warning: token shorter than 32 bytes; use e.g. `openssl rand -base64 32`\n".utf8))
        }
        print(TokenDigest.of(token: secret).configurationText)
    }
}

struct CertThumbprint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert-thumbprint",
        abstract: "Print the sha256:<hex> thumbprint of a PEM certificate (its first one) for auth.tokens[].client_cert_sha256.")

    @Argument(help: "The client's certificate, PEM.")
    var file: String

    func run() async throws {
        do {
            let digest = try TLSContext.certificateSHA256(ofFile: file)
            guard let thumbprint = CertificateThumbprint(bytes: digest) else { throw ValidationError("\(file): not a SHA-256 digest") }
            print(thumbprint)
        } catch let error as TLSError {
            throw StartupError("\(error)")
        }
    }
}
