import HTTPTypes
import HummingbirdCore
import MCPCore
import Testing
@testable import MCPServerKit

/// `HTTPReplies.json` sets `Content-Length` itself (so `Response.init` does not copy the
/// fields to add it): once, to the body's length, whatever fields the caller passed.
@Suite struct HTTPRepliesTests {
    let value: JSONValue = ["jsonrpc": "2.0", "id": 1, "result": ["text": "a\"b"]]

    func lengths(_ headers: HTTPFields) -> [String] { headers[values: .contentLength] }

    @Test func theUsualAnswerCarriesItsLengthOnce() {
        let response = HTTPReplies.json(value)
        #expect(lengths(response.headers) == [String(value.serialized().count)])
        #expect(response.body.contentLength == value.serialized().count)
        #expect(response.headers[.contentType] == "application/json")
        #expect(response.headers[.cacheControl] == "no-store")
    }

    @Test func aCallersLengthIsReplacedNotRepeated() {
        let response = HTTPReplies.json(value, status: .tooManyRequests, headers: [.contentLength: "999", HTTPField.Name("Retry-After")!: "2"])
        #expect(lengths(response.headers) == [String(value.serialized().count)])
        #expect(response.headers[HTTPField.Name("Retry-After")!] == "2")
        #expect(response.status == .tooManyRequests)
    }
}
