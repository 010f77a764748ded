// libFuzzer harness for the YAML config loader (Config, libyaml underneath).
// Built by fuzz/run.sh together with Sources/Config/**/*.swift and the CLibYAML module.
//
// Properties checked beyond "no crash, no ASan report, no hang":
// 1. `ConfigLoader.load(yaml:)` either returns a config or throws a `ConfigError` whose
//    description is non-empty (every bad input gets a clear answer).
// 2. Round trip: an accepted config, rendered unredacted, loads back to an equal config.

let limits = YAMLLimits(maxBytes: 16 << 10, maxDepth: 32)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzYAMLConfig(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let raw = start.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
    let text = String(decoding: raw, as: UTF8.self)

    _ = try? YAMLParser.parse(bytes: raw, file: "<fuzz>", limits: limits)

    let config: AppConfig
    do {
        config = try ConfigLoader.load(yaml: text, file: "<fuzz>", limits: limits)
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
