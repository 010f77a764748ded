import Testing
@testable import Config

/// Documents at the size cap parse in time linear in their size: no quadratic path in
/// the tree builder, duplicate-key check, merge or decoder (DESIGN: nothing unbounded).
@Suite struct SizeAndTimeTests {
    func time(_ body: () throws -> Void) rethrows -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        return clock.now - start
    }

    @Test func largeFlatMappingIsLinear() throws {
        var text = ""
        var index = 0
        while text.utf8.count < 1_000_000 {
            text += "k\(index): \(index)\n"
            index += 1
        }
        let elapsed = try time {
            let root = try YAMLParser.parse(text, file: "big.yaml")
            guard case let .mapping(entries) = root.kind else { throw ConfigValueError(expected: "a mapping") }
            #expect(entries.count == index)
        }
        print("parse: \(index) keys, \(text.utf8.count) bytes: \(elapsed)")
        #expect(elapsed < .seconds(10))
        // Loading stops at the first unknown key.
        #expect(throws: ConfigError.self) { try ConfigLoader.load(yaml: text) }
    }

    @Test func largeListLoads() throws {
        var text = "tools:\n  enabled:\n"
        var count = 0
        while text.utf8.count < 1_000_000 {
            text += "    - tool_\(count)\n"
            count += 1
        }
        let elapsed = try time {
            let config = try ConfigLoader.load(yaml: text)
            #expect(config.tools.enabled.count == count)
        }
        print("load: \(count) list items, \(text.utf8.count) bytes: \(elapsed)")
        #expect(elapsed < .seconds(10))
    }

    @Test func billionLaughsIsRefusedAtOnce() throws {
        var text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1..<10 {
            text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let elapsed = time {
            #expect(throws: ConfigError.self) { try ConfigLoader.load(yaml: text) }
        }
        #expect(elapsed < .seconds(1))
    }
}
