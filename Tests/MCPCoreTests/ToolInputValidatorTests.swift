import MCPCore
import Testing

/// String lengths as declared by the tool schemas (JSON Schema 2020-12 section 6.3:
/// `maxLength`/`minLength` count Unicode scalars, RFC 8259 characters).
@Suite struct ToolInputValidatorTests {
    let schema: JSONValue = [
        "type": "object",
        "properties": [
            "query": ["type": "string", "maxLength": 5],
            "name": ["type": "string", "minLength": 2, "maxLength": 3],
            "tags": ["type": "array", "items": ["type": "string", "maxLength": 2]],
        ],
    ]

    func problem(_ arguments: JSONObject) -> String? {
        ToolInputValidator.validate(arguments, against: schema)
    }

    @Test func maxLengthIsEnforcedNamingTheArgument() {
        #expect(problem(["query": "abcde"]) == nil)
        #expect(problem(["query": "abcdef"]) == "argument 'query': must be at most 5 characters, found 6")
        #expect(problem(["tags": ["ab", "abc"]]) == "argument 'tags[1]': must be at most 2 characters, found 3")
    }

    @Test func minLengthIsEnforced() {
        #expect(problem(["name": "ab"]) == nil)
        #expect(problem(["name": "a"]) == "argument 'name': must be at least 2 characters, found 1")
        #expect(problem(["name": "abcd"]) == "argument 'name': must be at most 3 characters, found 4")
    }

    /// Unicode scalars, not UTF-8 bytes ("é" is 2 bytes) nor grapheme clusters ("e" and a
    /// combining accent are one Character but two scalars).
    @Test func lengthCountsUnicodeScalars() {
        #expect(problem(["query": "ééééé"]) == nil)
        #expect(problem(["query": "👍👍👍👍👍"]) == nil)
        #expect(problem(["name": "e\u{301}e"]) == nil)
        #expect(problem(["name": "e\u{301}e\u{301}"]) == "argument 'name': must be at most 3 characters, found 4")
    }
}
