import Testing
@testable import MCPServerKit

/// WHATWG HTML §9.2.6: an event-stream line ends at CR, LF or CRLF.
@Suite struct SSEEventFormatTests {
    @Test("every line break in data starts a new data field")
    func lineBreaks() {
        #expect(SSEEventFormat.format(event: "message", data: "a\r\nb\rc\nd", id: "1-2")
                == "event: message\nid: 1-2\ndata: a\ndata: b\ndata: c\ndata: d\n\n")
    }

    @Test("regression (fuzz/sse_format): CR followed by a combining mark is still a line break")
    func carriageReturnWithCombiningMark() {
        // In Swift "\r\u{0618}" is one Character; to a client it is CR and then a new line
        // that, unsplit, would be read as a field named "\u{0618}x".
        let text = SSEEventFormat.format(event: nil, data: "ok\r\u{0618}x:1")
        #expect(text == "data: ok\ndata: \u{0618}x:1\n\n")
    }

    @Test("event and id lose any line break")
    func fixedNames() {
        #expect(SSEEventFormat.format(event: "a\nb", data: "", id: "1\r2") == "event: ab\nid: 12\ndata: \n\n")
    }
}
