import Hummingbird
import Logging
import Testing
@testable import MCPServerKit

/// A request's log lines carry its id and, once authenticated, the token's name, through the
/// metadata provider (not metadata set on every request's logger).
@Suite struct RequestLogMetadataTests {
    @Test("the provider gives the current request's id and token, and nothing outside a request")
    func provider() {
        #expect(RequestLogMetadata.provider.get().isEmpty)
        let id = RequestID()
        RequestLogMetadata.$current.withValue(RequestLogMetadata(id: id)) {
            let metadata = RequestLogMetadata.provider.get()
            #expect(metadata["hb.request.id"]?.description == id.description)
            #expect(metadata["token"] == nil)
            // What RequestGate does once the token is known: set in place, seen at once.
            RequestLogMetadata.current?.token = "ci"
            #expect(RequestLogMetadata.provider.get()["token"]?.description == "ci")
            #expect(RequestLogMetadata.provider.get()["hb.request.id"]?.description == id.description)
        }
    }

    @Test("a task started for the request inherits them")
    func inheritedByTasks() async {
        let id = RequestID()
        let seen = await RequestLogMetadata.$current.withValue(RequestLogMetadata(id: id, token: "t")) {
            await Task { RequestLogMetadata.provider.get()["hb.request.id"]?.description }.value
        }
        #expect(seen == id.description)
    }
}
