import Testing
@testable import Config

/// Secrets (keys named token, password, key, secret, or ending in _token) never appear in
/// errors or in the rendered configuration (issue 2, DESIGN principle 5).
@Suite struct SecretTests {
    let secretValue = "s3cr3t-VALUE-do-not-print"

    func loadError(_ yaml: String, environment: [String: String] = [:], overrides: [String] = []) -> String? {
        do {
            _ = try ConfigLoader.load(yaml: yaml, file: "c.yaml", environment: environment, overrides: overrides)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func secretKeyNames() {
        for secret in [["grafana", "token"], ["server", "api_token"], ["prometheus", "password"], ["x", "key"], ["x", "secret"], ["x", "private_key"], ["token", "0"], ["grafana", "token", "deep"]] {
            #expect(ConfigKeyPath.isSecret(Array(secret)), "\(secret)")
        }
        for plain in [["tls", "key_file"], ["auth", "tokens"], ["prometheus", "username"], ["auth", "tokens", "0", "name"], ["tokens"]] {
            #expect(!ConfigKeyPath.isSecret(plain), "\(plain)")
        }
    }

    @Test func wrongTypeErrorsRedactTheValue() {
        let fileError = loadError("grafana:\n  token: [\"\(secretValue)\"]\n")
        #expect(fileError == "c.yaml:2:10: grafana.token: expected a string, found a list")
        let mappingError = loadError("server:\n  api_token: {a: \(secretValue)}\n")
        #expect(mappingError == "c.yaml:2:14: server.api_token: expected a string, found a mapping")
        // Errors on other keys next to a secret do not show it.
        let siblingError = loadError("prometheus:\n  password: \(secretValue)\n  url: 5\n")
        #expect(siblingError == "c.yaml:3:8: prometheus.url: expected an http:// or https:// URL, found integer 5")
    }

    /// An invalid secret value is reported by kind only, in every layer.
    @Test func invalidSecretValuesAreRedacted() {
        #expect(loadError("grafana:\n  token: \"\(secretValue) \"\n")
            == "c.yaml:2:10: grafana.token: expected a secret without surrounding whitespace or line breaks, found <redacted string>")
        #expect(loadError("", environment: ["APP_SERVER__API_TOKEN": secretValue + "\n"])
            == "env APP_SERVER__API_TOKEN: server.api_token: expected a secret without surrounding whitespace or line breaks, found <redacted string>")
        #expect(loadError("", overrides: ["prometheus.password= \(secretValue)"])
            == "--set prometheus.password=<redacted>: prometheus.password: expected a secret without surrounding whitespace or line breaks, found <redacted string>")
        #expect(loadError("vikunja:\n  token: 123456789 \n") == nil)
        // No control character can go into the Authorization header a token is sent in.
        #expect(loadError("", environment: ["APP_GRAFANA__TOKEN": "glsa_ab\u{1}cd"])?.contains("expected printable text") == true)
        #expect(loadError("", environment: ["APP_GRAFANA__TOKEN": "glsa_ab\u{7F}cd"])?.contains("expected printable text") == true)
    }

    /// A raw token pasted where its digest or its variable's name belongs is refused without
    /// being printed (or logged, at a SIGHUP reload).
    @Test func aTokenPastedIntoSha256OrEnvIsNotShown() {
        let digestError = loadError("auth:\n  tokens:\n    - name: a\n      sha256: hunter2hunter2\n")
        #expect(digestError?.contains("auth.tokens.0.sha256") == true || digestError?.contains("auth.tokens[0].sha256") == true, "\(String(describing: digestError))")
        #expect(digestError?.contains("hunter2") == false, "\(String(describing: digestError))")
        let envError = loadError("auth:\n  tokens:\n    - name: a\n      env: hunter2-hunter2\n")
        #expect(envError != nil && envError?.contains("hunter2") == false, "\(String(describing: envError))")
    }

    @Test func validationAndTypeErrorsOnSecretScalarsShowOnlyTheKind() {
        // A secret used where a list is expected (through a typo'd structure).
        #expect(loadError("server:\n  api_token: \(secretValue)\n", overrides: ["server.api_token.x=1"])?.contains(secretValue) == false)
        let described = ScalarResolution.describe(.scalar(secretValue, plain: false, origin: .defaults), secret: true)
        #expect(described == "<redacted string>")
        #expect(ScalarResolution.describe(.scalar("12345", origin: .defaults), secret: true) == "<redacted integer>")
    }

    /// A backend URL with user info or a query is refused at start, naming the key and
    /// not the value (a tool call would otherwise report it to every MCP client).
    @Test func backendURLWithUserInfoOrQueryIsRefusedWithoutShowingIt() {
        let expected = "expected a URL without user info, query or fragment (credentials belong in grafana.token), found <redacted string>"
        #expect(loadError("grafana:\n  url: https://admin:\(secretValue)@grafana:3000\n") == "c.yaml:2:8: grafana.url: \(expected)")
        #expect(loadError("grafana:\n  url: http://prom/?api_key=\(secretValue)\n") == "c.yaml:2:8: grafana.url: \(expected)")
        #expect(loadError("", environment: ["APP_GRAFANA__URL": "http://u:\(secretValue)@h"]) == "env APP_GRAFANA__URL: grafana.url: \(expected)")
        #expect(loadError("", overrides: ["grafana.url=http://u:\(secretValue)@h"]) == "--set grafana.url=<redacted>: grafana.url: \(expected)")
        #expect(loadError("grafana:\n  url: u:\(secretValue)@h\n")?.contains(secretValue) == false)
        #expect(loadError("grafana:\n  url: https://grafana:3000/grafana\n") == nil)
    }

    @Test func flagErrorsMaskTheSecretValue() {
        let error = loadError("", overrides: ["grafana.token=\(secretValue)", "grafana.url=nope"])
        #expect(error == "--set grafana.url=nope: grafana.url: expected an http:// or https:// URL, found string \"nope\"")
        let secretError = loadError("", overrides: ["grafana.token.deep=\(secretValue)"])
        #expect(secretError?.contains(secretValue) == false)
        #expect(secretError == "--set grafana.token.deep=<redacted>: grafana.token: expected a string, found a mapping")
    }

    /// A mistyped secret key (`grafana.tokne`) is no secret by name, so an unknown key's
    /// value is never shown, in any layer; the error still names the key and the suggestion.
    @Test func unknownKeysNeverShowTheirValue() {
        let expected = "grafana.tokne: expected a known key (did you mean \"token\"?), found unknown key \"tokne\""
        #expect(loadError("", overrides: ["grafana.tokne=\(secretValue)"]) == "--set grafana.tokne=<redacted>: \(expected)")
        #expect(loadError("", environment: ["APP_GRAFANA__TOKNE": secretValue]) == "env APP_GRAFANA__TOKNE: \(expected)")
        #expect(loadError("grafana:\n  tokne: \(secretValue)\n") == "c.yaml:2:3: \(expected)")
        // A malformed key path and a key under a value are unknown keys too.
        #expect(loadError("", overrides: ["Grafana.Token=\(secretValue)"])
            == "--set Grafana.Token=<redacted>: expected a dotted path of snake_case keys, found a malformed key path")
        let conflict = loadError("", overrides: ["grafana.url=http://g", "grafana.url.tokne=\(secretValue)"])
        #expect(conflict?.contains(secretValue) == false)
        #expect(conflict?.contains("grafana.url.tokne") == true)
    }

    @Test func environmentErrorsNeverShowTheValue() {
        let error = loadError("", environment: ["APP_PORTAINER__TOKEN__X": secretValue])
        #expect(error == "env APP_PORTAINER__TOKEN__X: portainer.token: expected a string, found a mapping")
        let typed = loadError("vikunja:\n  token: [1]\n", environment: ["APP_VIKUNJA__TOKEN": secretValue])
        #expect(typed == nil)
    }

    @Test func renderedConfigMasksSecrets() throws {
        let config = try ConfigLoader.load(
            yaml: "grafana:\n  token: \(secretValue)\n  url: https://g.example\nprometheus:\n  password: \(secretValue)\n  username: bob\n",
            environment: ["APP_SERVER__API_TOKEN": secretValue]
        )
        let text = config.rendered()
        #expect(!text.contains(secretValue))
        #expect(text.contains("  token: \"***\"\n  enabled: true\n") || text.contains("  token: \"***\"\n"))
        #expect(text.contains("  api_token: \"***\"\n"))
        #expect(text.contains("  password: \"***\"\n"))
        #expect(text.contains("  username: bob\n"))
        #expect(text.contains("  url: \"https://g.example\"\n"))
        // Empty secrets stay visibly empty, so a missing token is noticed.
        #expect(text.contains("portainer:\n  url: \"\"\n  token: \"\"\n"))
        #expect(config.rendered(redacted: false).contains(secretValue))
    }
}
