import Foundation
import Testing
@testable import Config

/// The layers of issue 2: embedded defaults -> base.yaml -> $ENV.yaml -> APP_* env ->
/// --set, merged as trees so errors name the layer that set the value.
@Suite struct LayerTests {
    /// A fresh directory with the given files, removed after `body`.
    func withDirectory<T>(_ files: [String: String], _ body: (String) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, text) in files {
            try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
        }
        return try body(directory)
    }

    func loadError(_ body: () throws -> AppConfig) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func missingDirectoryMeansEmbeddedDefaults() throws {
        #expect(try ConfigLoader.load(directory: "/nonexistent/config", environment: [:]) == AppConfig())
    }

    @Test func baseThenEnvFileThenEnvVarsThenFlags() throws {
        let files = [
            "base.yaml": "server:\n  port: 1001\n  http_port: 1002\n  api_port: 1003\n  sse_port: 1004\nlog:\n  level: error\n",
            "staging.yaml": "server:\n  http_port: 2002\n  api_port: 2003\n  sse_port: 2004\n",
        ]
        let config = try withDirectory(files) { directory in
            try ConfigLoader.load(
                directory: directory, environment: ["ENV": "staging", "APP_SERVER__API_PORT": "3003", "APP_SERVER__SSE_PORT": "3004"],
                overrides: ["server.sse_port=4004"]
            )
        }
        #expect(config.server.port == 1001)
        #expect(config.server.httpPort == 2002)
        #expect(config.server.apiPort == 3003)
        #expect(config.server.ssePort == 4004)
        #expect(config.log.level == .error)
        // Keys no layer set keep the embedded default; sibling keys of merged mappings survive.
        #expect(config.log.format == .json && config.server.host == "127.0.0.1")
    }

    /// Names are lower-cased, so two variables can name one key; the sort order used to
    /// pick the winner silently (a file's duplicate key is refused).
    @Test func twoVariablesForOneKeyAreRefused() throws {
        do {
            _ = try ConfigLoader.load(yaml: "", environment: ["APP_TLS__ENABLED": "true", "APP_tls__enabled": "false"])
            Issue.record("two variables for tls.enabled accepted")
        } catch {
            #expect(error.path == "tls.enabled" && error.expected == "one variable per key", "\(error)")
        }
        #expect(try ConfigLoader.load(yaml: "", environment: ["APP_TLS__ENABLED": "false"]).tls.enabled == false)
    }

    /// The Go server read APP_* booleans with strconv.ParseBool: deployments set
    /// APP_SERVER__SSE_ENABLED=1, which used to refuse to start. Files stay strict.
    @Test func environmentBooleansTakeGosSpellings() throws {
        for (text, value) in [("1", true), ("t", true), ("TRUE", true), ("True", true), ("0", false), ("F", false), ("FALSE", false)] {
            #expect(try ConfigLoader.load(yaml: "", environment: ["APP_SERVER__SSE_ENABLED": text]).server.sseEnabled == value, "\(text)")
            #expect(try ConfigLoader.load(yaml: "", environment: [:], overrides: ["server.sse_enabled=\(text)"]).server.sseEnabled == value, "\(text)")
        }
        #expect(throws: ConfigError.self) { try ConfigLoader.load(yaml: "", environment: ["APP_SERVER__SSE_ENABLED": "yes"]) }
        #expect(throws: ConfigError.self) { try ConfigLoader.load(yaml: "server:\n  sse_enabled: 1\n", environment: [:]) }
    }

    @Test func environmentNameFromArgumentThenENVThenDev() throws {
        let files = ["base.yaml": "", "dev.yaml": "server:\n  port: 1\n", "prod.yaml": "server:\n  port: 2\n", "qa.yaml": "server:\n  port: 3\n"]
        try withDirectory(files) { (directory: String) throws -> Void in
            #expect(try ConfigLoader.load(directory: directory, environment: [:]).server.port == 1)
            #expect(try ConfigLoader.load(directory: directory, environment: ["ENV": "prod"]).server.port == 2)
            #expect(try ConfigLoader.load(directory: directory, environment: ["ENV": ""]).server.port == 1, "empty is unset: dev")
            #expect(try ConfigLoader.load(directory: directory, env: "qa", environment: ["ENV": "prod"]).server.port == 3)
            // A missing environment file is fine.
            #expect(try ConfigLoader.load(directory: directory, env: "nothere", environment: [:]).server.port == 8443)
        }
        #expect(loadError { try ConfigLoader.load(directory: "/nonexistent", env: "../etc/passwd", environment: [:]) }
            == "--env ../etc/passwd: expected an environment name of letters, digits, '-' or '_', found string \"../etc/passwd\"")
        #expect(loadError { try ConfigLoader.load(directory: "/nonexistent", environment: ["ENV": "a/b"]) }
            == "env ENV: expected an environment name of letters, digits, '-' or '_', found string \"a/b\"")
    }

    @Test func errorsNameTheFileOfTheLayer() throws {
        let files = ["base.yaml": "server:\n  port: 1\n", "dev.yaml": "\nserver:\n  port: nope\n"]
        let error = try withDirectory(files) { directory in
            loadError { try ConfigLoader.load(directory: directory, environment: [:]) }.map { $0.replacingOccurrences(of: directory, with: "D") }
        }
        #expect(error == "D/dev.yaml:3:9: server.port: expected an integer, found string \"nope\"")
    }

    @Test func fileLayerCapsAndKinds() throws {
        let big = "server:\n  name: " + String(repeating: "x", count: 300) + "\n"
        let error = try withDirectory(["base.yaml": big]) { directory in
            loadError { try ConfigLoader.load(directory: directory, environment: [:], limits: YAMLLimits(maxBytes: 256)) }
                .map { $0.replacingOccurrences(of: directory, with: "D") }
        }
        #expect(error == "D/base.yaml:1:1: expected a document of at most 256 bytes, found 317 bytes")
        // A directory where a file should be is refused, not read.
        let notRegular = try withDirectory([:]) { directory in
            try FileManager.default.createDirectory(atPath: "\(directory)/base.yaml", withIntermediateDirectories: false)
            return loadError { try ConfigLoader.load(directory: directory, environment: [:]) }.map { $0.replacingOccurrences(of: directory, with: "D") }
        }
        #expect(notRegular == "D/base.yaml:1:1: expected a regular file, found another kind of file")
        let invalid = try withDirectory([:]) { directory in
            try Data([0x61, 0x3A, 0x20, 0xFF, 0x0A]).write(to: URL(fileURLWithPath: "\(directory)/base.yaml"))
            return loadError { try ConfigLoader.load(directory: directory, environment: [:]) }.map { $0.replacingOccurrences(of: directory, with: "D") }
        }
        #expect(invalid == "D/base.yaml:1:4: expected UTF-8 text, found an invalid UTF-8 byte sequence")
    }

    @Test func environmentVariablesNestAndLowerCase() throws {
        let config = try ConfigLoader.load(yaml: "", environment: [
            "APP_PORTAINER__TOKEN": "ptr-secret",
            "APP_SERVER__API_TOKEN": "0123456789abcdef0123456789abcdef",
            "APP_LIMITS__REQUEST_RATE": "7.5",
            "APP_SERVER__SSE_ENABLED": "true",
            "APP_TLS__HANDSHAKE_TIMEOUT": "3s",
            "PATH": "/usr/bin", "HOME": "/root", "APPLE": "ignored: no APP_ prefix",
        ])
        #expect(config.portainer.token == "ptr-secret")
        #expect(config.server.apiToken == "0123456789abcdef0123456789abcdef")
        #expect(config.limits.requestRate == 7.5)
        #expect(config.server.sseEnabled)
        #expect(config.tls.handshakeTimeout == .seconds(3))
    }

    @Test func environmentListsAreCommaSeparated() throws {
        let config = try ConfigLoader.load(yaml: "server:\n  allowed_origins: [https://x.example]\n", environment: [
            "APP_SERVER__ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "APP_LIMITS__TRUSTED_PROXIES": "",
            "APP_TOOLS__DISABLED": "grafana_query",
            "APP_TOOLS__ENABLED": "[a, b]",
        ])
        #expect(config.tools.enabled == ["a", "b"])
        #expect(config.server.allowedOrigins == ["https://a.example", "https://b.example"])
        #expect(config.limits.trustedProxies == [])
        #expect(config.tools.disabled == ["grafana_query"])
    }

    @Test func environmentErrors() {
        #expect(loadError { try ConfigLoader.load(yaml: "", environment: ["APP_SERVER__PORT": "x"]) }
            == "env APP_SERVER__PORT: server.port: expected an integer, found string \"x\"")
        #expect(loadError { try ConfigLoader.load(yaml: "", environment: ["APP_SERVER__PROT": "1"]) }
            == "env APP_SERVER__PROT: server.prot: expected a known key (did you mean \"port\"?), found unknown key \"prot\"")
        #expect(loadError { try ConfigLoader.load(yaml: "", environment: ["APP_SERVER__SSE_ENABLED": "yes"]) }
            == "env APP_SERVER__SSE_ENABLED: server.sse_enabled: expected a boolean (true or false), found string \"yes\"")
        #expect(loadError { try ConfigLoader.load(yaml: "", environment: ["APP_SERVER___PORT": "1"]) }
            == "env APP_SERVER___PORT: expected APP_<SECTION>__<KEY> with letters, digits and single underscores, found a malformed name")
        #expect(loadError { try ConfigLoader.load(yaml: "", environment: ["APP_SERVER": "1", "APP_SERVER__PORT": "2"]) }
            == "env APP_SERVER__PORT: server.port: expected a setting that does not conflict with another one, found a parent key set to a value")
        // Lists of mappings cannot be written as variables; the error says so at the list.
        #expect(loadError { try ConfigLoader.load(yaml: "", environment: ["APP_AUTH__TOKENS__0__NAME": "a"]) }
            == "env APP_AUTH__TOKENS__0__NAME: auth.tokens: expected a list, found a mapping")
        #expect(loadError { try ConfigLoader.load(yaml: "", environment: ["APP_LIMITS__TRUSTED_PROXIES": "10.0.0.0/8,bad"]) }
            == "env APP_LIMITS__TRUSTED_PROXIES: limits.trusted_proxies[1]: expected a CIDR without host bits such as 10.0.0.0/8 or 2001:db8::/32, found string \"bad\"")
    }

    /// An environment variable has no null: `APP_GRAFANA__URL=` is the empty string, as
    /// koanf (the Go server) read it, and so is `--set grafana.url=`. A file's `url:` is
    /// YAML 1.2's null, which no key accepts; `url: ""` is the empty string there.
    @Test func emptyEnvironmentAndFlagValuesAreEmptyStrings() throws {
        let file = "grafana:\n  url: http://grafana:3000\n"
        #expect(try ConfigLoader.load(yaml: file, environment: ["APP_GRAFANA__URL": ""]).grafana.url == "")
        #expect(try ConfigLoader.load(yaml: file, overrides: ["grafana.url="]).grafana.url == "")
        #expect(try ConfigLoader.load(yaml: "", environment: ["APP_TOOLS__ENABLED": ""]).tools.enabled == [])
        // An empty value is a string everywhere, so a key of another kind says what it found.
        #expect(loadError { try ConfigLoader.load(yaml: "", environment: ["APP_SERVER__PORT": ""]) }
            == "env APP_SERVER__PORT: server.port: expected an integer, found string \"\"")
        // The file layer keeps YAML's meaning.
        #expect(loadError { try ConfigLoader.load(yaml: "grafana:\n  url:\n", file: "c.yaml") }
            == "c.yaml:2:7: grafana.url: expected a string, found null")
        #expect(try ConfigLoader.load(yaml: "grafana:\n  url: \"\"\n").grafana.url == "")
    }

    @Test func setFlagsOverrideEverything() throws {
        let config = try ConfigLoader.load(
            yaml: "server:\n  port: 1\n", environment: ["APP_SERVER__PORT": "2"],
            overrides: ["server.port=3", "log.format=console", "tools.enabled=a,b", "server.name=with=equals"]
        )
        #expect(config.server.port == 3)
        #expect(config.log.format == .console)
        #expect(config.tools.enabled == ["a", "b"])
        #expect(config.server.name == "with=equals")
    }

    @Test func setFlagErrors() {
        #expect(loadError { try ConfigLoader.load(yaml: "", overrides: ["server.port=x"]) }
            == "--set server.port=x: server.port: expected an integer, found string \"x\"")
        #expect(loadError { try ConfigLoader.load(yaml: "", overrides: ["server.port"]) }
            == "--set server.port: expected key.path=value, found no '='")
        #expect(loadError { try ConfigLoader.load(yaml: "", overrides: ["server..port=1"]) }
            == "--set server..port=<redacted>: expected a dotted path of snake_case keys, found a malformed key path")
        #expect(loadError { try ConfigLoader.load(yaml: "", overrides: ["server.nope=1"]) }
            == "--set server.nope=<redacted>: server.nope: expected a known key, found unknown key \"nope\"")
        #expect(loadError { try ConfigLoader.load(yaml: "", overrides: ["server.port=70000"]) }
            == "--set server.port=70000: server.port: expected a port in 0...65535, found integer 70000")
    }

    /// Scalars and lists replace; they never merge element by element.
    @Test func listsReplaceWholly() throws {
        let config = try ConfigLoader.load(yaml: "tools:\n  enabled: [a, b, c]\n", overrides: ["tools.enabled=d"])
        #expect(config.tools.enabled == ["d"])
    }

    static let repositoryConfig = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config").path

    /// config/base.yaml documents every key with the embedded default value.
    @Test func repositoryBaseYAMLIsTheEmbeddedDefaults() throws {
        let text = try String(contentsOfFile: "\(Self.repositoryConfig)/base.yaml", encoding: .utf8)
        #expect(try ConfigLoader.load(yaml: text, file: "base.yaml") == AppConfig())
        // Every key of the defaults appears in base.yaml.
        let base = try YAMLParser.parse(text, file: "base.yaml")
        var missing: [String] = []
        func walk(_ node: YAMLNode, _ path: [String]) {
            guard case let .mapping(entries) = node.kind else { return }
            for entry in entries {
                if base.node(at: path + [entry.key]) == nil { missing.append(ConfigKeyPath.render(path + [entry.key])) }
                walk(entry.value, path + [entry.key])
            }
        }
        walk(ConfigLoader.defaultsTree, [])
        #expect(missing == [])
    }

    @Test func repositoryEnvironmentFilesDecode() throws {
        let dev = try ConfigLoader.load(directory: Self.repositoryConfig, environment: [:])
        #expect(dev.log.level == .debug && dev.log.format == .console)
        let prod = try ConfigLoader.load(directory: Self.repositoryConfig, env: "prod", environment: [:])
        #expect(prod.log.format == .json)
        #expect(prod.server.sseEnabled && prod.server.host == "0.0.0.0")
        #expect(prod.tls.enabled && prod.tls.certFile.hasPrefix("/etc/axinova-mcp/tls/"))
        #expect(prod.auth.tokens.count == 3 && prod.auth.tokens.allSatisfy { !$0.name.isEmpty })
        #expect(prod.limits.maxConnections < AppConfig().limits.maxConnections)
        #expect(prod.limits.requestRate < AppConfig().limits.requestRate)
    }
}
