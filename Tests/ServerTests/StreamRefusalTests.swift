import Hummingbird
import Testing
@testable import MCPServerKit

/// A stream refused because shutdown has begun says so, not that the server is at its cap.
@Suite struct StreamRefusalTests {
    @Test("a stream refused while draining is 503 'Server shutting down'; a cap keeps its own answer")
    func drainingIsNotACap() async throws {
        func text(_ response: Response) async throws -> String {
            let writer = CollectingWriter()
            try await response.body.write(writer)
            return writer.text.value
        }
        let draining = StreamableHTTPTransport.streamRefusal(.draining)
        #expect(draining.status == .serviceUnavailable)
        #expect(try await text(draining).contains("Server shutting down"))
        #expect(try await text(StreamableHTTPTransport.streamRefusal(.globalCap)).contains("Server at its limit of SSE streams"))
        #expect(StreamableHTTPTransport.streamRefusal(.perTokenCap).status == .tooManyRequests)
    }
}
