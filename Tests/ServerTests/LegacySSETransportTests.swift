import MCPCore
import Testing
@testable import MCPServerKit

/// Legacy HTTP+SSE answers on the stream after a 202: a request the client cancelled while
/// it ran is not answered, alone or in a batch (2025-11-25 basic/utilities/cancellation.mdx).
@Suite struct LegacyCancelledAnswerTests {
    @Test("the answers to cancelled requests are dropped from a response or a batch's; nothing is sent when none is left")
    func cancelledAnswersDropped() {
        let one: JSONValue = ["jsonrpc": "2.0", "id": 1, "result": [:]]
        let two: JSONValue = ["jsonrpc": "2.0", "id": "two", "result": [:]]
        #expect(LegacySSETransport.dropping([], from: one) == one)
        #expect(LegacySSETransport.dropping([1], from: one) == Optional<JSONValue>.none)
        #expect(LegacySSETransport.dropping(["1"], from: one) == one, "the string \"1\" is another id")
        #expect(LegacySSETransport.dropping([1], from: .array([one, two])) == .array([two]))
        #expect(LegacySSETransport.dropping([1, "two"], from: .array([one, two])) == Optional<JSONValue>.none)
        #expect(LegacySSETransport.dropping([1], from: nil) == Optional<JSONValue>.none)
    }
}
