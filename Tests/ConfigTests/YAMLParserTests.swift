import Testing
@testable import Config

/// The libyaml event stream -> YAMLNode tree, with positions, and every hostile input
/// refused with a positioned error. YAML 1.2.2: §6.9.2 (anchors, aliases: refused),
/// §9.2 (streams of several documents: refused), §3.2.1.1 (unique mapping keys),
/// §5.1 (printable character set), §6.8.1 (tags: core schema only, §10.3).
@Suite struct YAMLParserTests {
    func parseError(_ text: String, limits: YAMLLimits = YAMLLimits()) -> String? {
        do {
            _ = try YAMLParser.parse(text, file: "t.yaml", limits: limits)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func buildsTreeWithOneBasedPositions() throws {
        let root = try YAMLParser.parse("a:\n  b: [1, \"two\"]\n  c: {d: x}\n", file: "t.yaml")
        let b = try #require(root.node(at: ["a", "b"]))
        #expect(b.origin == .file(name: "t.yaml", line: 2, column: 6))
        guard case let .sequence(items) = b.kind else {
            Issue.record("expected a sequence")
            return
        }
        #expect(items.count == 2)
        #expect(items[0].kind == .scalar(.init("1", isPlain: true)))
        #expect(items[1].kind == .scalar(.init("two", isPlain: false)))
        #expect(items[1].origin == .file(name: "t.yaml", line: 2, column: 10))
        #expect(root.node(at: ["a", "c", "d"])?.kind == .scalar(.init("x")))
    }

    @Test func emptyAndCommentOnlyDocumentsAreEmptyMappings() throws {
        #expect(try YAMLParser.parse("", file: "t.yaml").kind == .mapping([]))
        let onlyComments = try ConfigLoader.documentRoot(YAMLParser.parse("# nothing\n", file: "t.yaml"))
        #expect(onlyComments.kind == .mapping([]))
    }

    /// Billion laughs: anchors are refused at the first anchor, before any expansion.
    @Test func refusesAnchorsAndAliases() {
        let laughs = """
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        """
        #expect(parseError(laughs) == "t.yaml:1:4: a: expected plain data (anchors and aliases are refused), found an anchor")
        #expect(parseError("x: &v 1\n") == "t.yaml:1:4: x: expected plain data (anchors and aliases are refused), found an anchor")
        // An alias to an undefined anchor is also an alias event first.
        #expect(parseError("x: *v\n") == "t.yaml:1:4: x: expected plain data (anchors and aliases are refused), found an alias")
    }

    @Test func refusesDocumentsOverTheSizeCapBeforeParsing() {
        let big = "a: " + String(repeating: "x", count: 2000) + "\n"
        #expect(parseError(big, limits: YAMLLimits(maxBytes: 1024)) == "t.yaml:1:1: expected a document of at most 1024 bytes, found 2004 bytes")
        // Exactly at the cap is fine.
        let exact = "a: " + String(repeating: "x", count: 1021)
        #expect(exact.utf8.count == 1024)
        #expect(parseError(exact, limits: YAMLLimits(maxBytes: 1024)) == nil)
        #expect(YAMLLimits().maxBytes == 1_048_576)
    }

    @Test func refusesNestingOverTheDepthCap() {
        #expect(parseError(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)) == nil)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        let error = parseError(deep)
        #expect(error?.hasPrefix("t.yaml:1:65: ") == true)
        #expect(error?.hasSuffix("expected nesting of at most 64 levels, found deeper nesting") == true)
        // A huge unclosed nest is refused at level 65, not after reading it all.
        #expect(parseError(String(repeating: "[", count: 100_000))?.contains("at most 64 levels") == true)
        #expect(parseError("a:\n  b:\n    c: 1\n", limits: YAMLLimits(maxDepth: 2)) == "t.yaml:3:5: a.b: expected nesting of at most 2 levels, found deeper nesting")
    }

    @Test func refusesDuplicateKeys() {
        #expect(parseError("server:\n  port: 1\n  port: 2\n") == "t.yaml:3:3: server.port: expected unique keys, found a duplicate key (first at line 2)")
        #expect(parseError("a: 1\nb: 2\na: 3\n") == "t.yaml:3:1: a: expected unique keys, found a duplicate key (first at line 1)")
    }

    @Test func refusesInvalidUTF8() {
        let bytes = Array("a: ok\nb: ".utf8) + [0xC3, 0x28] + Array("\n".utf8)
        #expect(throws: ConfigError.self) { try YAMLParser.parse(bytes: bytes, file: "t.yaml") }
        do {
            _ = try YAMLParser.parse(bytes: bytes, file: "t.yaml")
        } catch {
            #expect(error.description == "t.yaml:2:4: expected UTF-8 text, found an invalid UTF-8 byte sequence")
        }
        // UTF-16 with a BOM is not UTF-8 either.
        #expect(throws: ConfigError.self) { try YAMLParser.parse(bytes: [0xFF, 0xFE, 0x61, 0x00], file: "t.yaml") }
    }

    @Test func refusesNULAndBinaryJunk() {
        #expect(parseError("a: b\u{0}c\n") == "t.yaml:1:5: expected printable text, found a NUL byte")
        #expect(parseError("a: 1\n\u{1B}[31m\n") == "t.yaml:2:1: expected printable text, found control character U+1B")
        let junk: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00]
        do {
            _ = try YAMLParser.parse(bytes: junk, file: "t.yaml")
            Issue.record("binary junk was accepted")
        } catch {
            #expect(error.description == "t.yaml:1:1: expected printable text, found control character U+7F")
        }
        // Escapes cannot smuggle them in either.
        #expect(parseError("tls:\n  cert_file: \"/etc/x\\0.pem\"\n") == "t.yaml:2:14: tls.cert_file: expected printable text, found a control character in a quoted scalar")
        #expect(parseError("a: \"\\e[31m\"\n") == "t.yaml:1:4: a: expected printable text, found a control character in a quoted scalar")
        #expect(parseError("a: \"tab\\there\\nline\"\n") == nil)
        // Tabs and CRLF line ends are text.
        #expect(parseError("a: 1\r\nb: \"x\ty\"\r\n") == nil)
    }

    @Test func refusesMultipleDocuments() {
        #expect(parseError("a: 1\n---\nb: 2\n") == "t.yaml:2:1: expected a single YAML document, found a second document")
        #expect(parseError("--- \na: 1\n...\n") == nil)
    }

    @Test func refusesNonScalarKeys() {
        #expect(parseError("? [a, b]\n: 1\n") == "t.yaml:1:3: expected a scalar key, found a list")
        #expect(parseError("{a: 1}: 2\n") == "t.yaml:1:1: expected a scalar key, found a mapping")
    }

    @Test func acceptsOnlyCoreTags() throws {
        let root = try YAMLParser.parse("a: !!str 123\nb: !!int 7\n", file: "t.yaml")
        #expect(root["a"]?.kind == .scalar(.init("123", isPlain: false, tag: .str)))
        #expect(parseError("a: !custom 1\n") == "t.yaml:1:4: a: expected no tag or a core schema tag that fits the node, found tag \"!custom\"")
        #expect(parseError("a: !!python/object:os.system x\n")?.contains("found tag \"tag:yaml.org,2002:python/object:os.system\"") == true)
        #expect(parseError("a: !!map x\n")?.contains("core schema tag") == true)
    }

    /// Truncated and malformed documents: libyaml's own diagnosis, positioned.
    @Test func reportsSyntaxErrorsWithPosition() {
        #expect(parseError("a: [1, 2\n") == "t.yaml:2:1: expected valid YAML, found a syntax error: did not find expected ',' or ']' while parsing a flow sequence (started at 1:4)")
        #expect(parseError("a: \"unterminated\n")?.hasPrefix("t.yaml:2:1: expected valid YAML, found a syntax error: found unexpected end of stream") == true)
        #expect(parseError("a: b: c\n")?.hasPrefix("t.yaml:1:5: expected valid YAML, found a syntax error: mapping values are not allowed") == true)
        #expect(parseError("a:\n  - 1\n b: 2\n") != nil)
    }
}
