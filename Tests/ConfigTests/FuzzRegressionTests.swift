import Testing
@testable import Config

/// Inputs found by `fuzz/run.sh config_layers` (fuzz/targets/config_layers.swift).
///
/// The file layer refuses control characters (YAMLParser: "printable text"), but values from
/// `APP_*` variables and `--set` flags reached the config unchecked. Such a config loaded,
/// yet its own rendering (`check-config` output) did not load again, and an ESC or CR in a
/// value could reach logs and terminals. Every layer now applies the file layer's rule.
@Suite struct FuzzRegressionTests {
    func loadError(environment: [String: String] = [:], overrides: [String] = []) -> String? {
        do {
            _ = try ConfigLoader.load(yaml: "", environment: environment, overrides: overrides)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Minimized from crash-f7ebd4f3: `server.allowed_origins=https://a.examp\u{1D}e,...`.
    @Test func overrideWithControlCharacterIsRefused() throws {
        let error = try #require(loadError(overrides: ["server.allowed_origins=https://a.examp\u{1D}e,https://b.example"]))
        #expect(error.contains("printable text"))
        #expect(error.contains("U+1D"))
        #expect(error.contains("--set server.allowed_origins=<redacted>"))
        #expect(!error.contains("a.examp"))
    }

    /// Nor is any other refused value: a backend URL may carry credentials, and control
    /// characters would reach the terminal that prints the error.
    @Test func refusedURLIsNotEchoed() throws {
        let error = try #require(loadError(overrides: ["grafana.url=https://admin:s3cret@grafana\u{1B}[2J:3000"]))
        #expect(error.contains("U+1B"))
        #expect(!error.contains("s3cret"))
        #expect(!error.contains("\u{1B}"))
    }

    @Test(arguments: ["\u{1B}[31m", "a\rb", "\u{7F}", "\u{85}"])
    func environmentValueWithControlCharacterIsRefused(value: String) throws {
        let error = try #require(loadError(environment: ["APP_SERVER__HOST": value]))
        #expect(error.contains("printable text"))
        #expect(error.contains("APP_SERVER__HOST"))
    }

    /// A secret's value is never echoed, even when it is refused.
    @Test func refusedSecretIsNotEchoed() throws {
        let error = try #require(loadError(overrides: ["server.api_token=sec\u{1B}ret-value"]))
        #expect(error.contains("printable text"))
        #expect(!error.contains("sec"))
    }

    /// The property the fuzzer checks: what the overlay layers accept renders to YAML that
    /// loads back to the same config.
    @Test func acceptedOverridesRenderToLoadableYAML() throws {
        let config = try ConfigLoader.load(
            yaml: "server:\n  port: 9443\n",
            environment: ["APP_SERVER__HOST": "0.0.0.0", "APP_LIMITS__REQUEST_RATE": "2.5"],
            overrides: ["limits.max_header_bytes=16KiB", "server.allowed_origins=https://a.example,https://b.example"]
        )
        #expect(try ConfigLoader.load(yaml: config.rendered(redacted: false)) == config)
    }
}
