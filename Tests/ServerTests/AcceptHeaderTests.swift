import Testing

@testable import MCPServerKit

/// Accept matching (RFC 9110 §12.5.1), as Streamable HTTP needs it: a POST must accept both
/// `application/json` and `text/event-stream` (MCP 2025-11-25, basic/transports §"Sending Messages to the Server").
@Suite struct AcceptHeaderTests {
    @Test(arguments: [
        ("application/json, text/event-stream", "application/json", true),
        ("application/json, text/event-stream", "text/event-stream", true),
        ("application/json,text/event-stream", "text/event-stream", true),
        ("  Application/JSON ;q=0.9 ,\ttext/event-stream\t", "application/json", true),
        ("TEXT/EVENT-STREAM;q=1", "text/event-stream", true),
        ("*/*", "text/event-stream", true),
        ("text/*", "text/event-stream", true),
        ("text/*;q=0.1", "application/json", false),
        ("application/json", "text/event-stream", false),
        ("application/jsonx", "application/json", false),
        ("application/jso", "application/json", false),
        ("", "application/json", false),
        (",,;,", "application/json", false),
        ("application/*x", "application/json", false),
        ("*/", "application/json", false),
        ("text/event-stream, application/json, ", "application/json", true),
    ])
    func covers(accept: String, type: String, expected: Bool) {
        #expect(AcceptHeader.covers(accept, mediaType: type) == expected)
    }

    /// The whole-value shortcut and the general scan agree: both types, in any spelling.
    @Test(arguments: [
        ("application/json, text/event-stream", true),
        ("text/event-stream, application/json", true),
        ("application/json,text/event-stream;q=0.5", true),
        ("*/*", true),
        ("application/json, text/event-stream, ", true),
        ("application/json", false),
        ("application/json, text/event-strea", false),
        ("application/json, text/plain", false),
        ("", false),
    ])
    func coversBoth(accept: String, expected: Bool) {
        #expect(AcceptHeader.coversJSONAndEventStream(accept) == expected)
    }

    @Test func nonASCIIBytesDoNotMatch() {
        #expect(!AcceptHeader.covers("applicätion/json", mediaType: "application/json"))
        #expect(!AcceptHeader.covers("\u{0}application/json", mediaType: "application/json"))
    }
}
