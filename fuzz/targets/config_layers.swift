// libFuzzer harness for the config layers above the files: `APP_*` environment variables and
// `--set key.path=value` overrides, merged over a YAML document (Config).
// Built by fuzz/run.sh together with Sources/Config/**/*.swift and the CLibYAML module.
//
// Input format: `<yaml document>\n%%\n<lines>`; each line `APP_...=value` (or `ENV=...`) is an
// environment variable, any other line a `--set` override. Without `%%` the whole input is lines.
//
// Properties checked beyond "no crash, no ASan report, no hang":
// 1. Every refusal is a `ConfigError` with a non-empty message.
// 2. An accepted config, rendered unredacted, loads back equal from the YAML alone.

import Foundation

let limits = YAMLLimits(maxBytes: 16 << 10, maxDepth: 32)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigLayers(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let raw = start.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
    let text = String(decoding: raw, as: UTF8.self)
    let yaml: Substring
    let rest: Substring
    if let marker = text.range(of: "\n%%\n") {
        yaml = text[..<marker.lowerBound]
        rest = text[marker.upperBound...]
    } else {
        yaml = ""
        rest = text[...]
    }
    var environment: [String: String] = [:]
    var overrides: [String] = []
    for line in rest.split(separator: "\n", omittingEmptySubsequences: true).prefix(64) {
        if line.hasPrefix("APP_") || line.hasPrefix("ENV="), let equals = line.firstIndex(of: "=") {
            environment[String(line[..<equals])] = String(line[line.index(after: equals)...])
        } else {
            overrides.append(String(line))
        }
    }

    let config: AppConfig
    do {
        config = try ConfigLoader.load(yaml: String(yaml), file: "<fuzz>", environment: environment, overrides: overrides, limits: limits)
    } catch {
        fuzzCheck(!"\(error)".isEmpty, "empty error message")
        return 0
    }
    let rendered = config.rendered(redacted: false)
    do {
        let reloaded = try ConfigLoader.load(yaml: rendered, file: "<rendered>", limits: YAMLLimits(maxBytes: 1 << 20, maxDepth: 32))
        fuzzCheck(reloaded == config, "render/load round trip changed the config:\n\(rendered)")
    } catch {
        fatalError("rendered config does not load: \(error)\n\(rendered)")
    }
    return 0
}

/// Like `precondition`, but the message survives -O (libFuzzer prints it with the reproducer).
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
