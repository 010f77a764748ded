import MCPCore
import NIOHTTP1
import Testing
@testable import Tools

/// Keep-alive reuse (RFC 9112 section 9.3, persistent connections) with a cap, and the
/// race where the server closes a pooled connection.
@Suite struct ConnectionPoolTests {
    func get(_ client: BackendHTTPClient, _ fake: FakeBackend, method: HTTPMethod = .GET) async throws -> BackendResponse {
        try await client.execute(BackendRequest(method: method, url: BackendURL(parsing: fake.url), path: "/x", timeout: .seconds(5)))
    }

    @Test func keepAliveConnectionsAreReused() async throws {
        let fake = try await FakeBackend.start(mode: .keepAlive) { _ in .json("{}") }
        let client = BackendHTTPClient()
        for _ in 0..<5 { #expect(try await get(client, fake).status == 200) }
        let connections = Set(fake.requests.map(\.connection))
        #expect(fake.requests.count == 5)
        #expect(connections.count == 1)
        #expect(client.pool.idleCount == 1)
        client.shutdown()
        #expect(client.pool.idleCount == 0)
        await fake.stop()
    }

    @Test func connectionCloseIsHonoured() async throws {
        let fake = try await FakeBackend.start(mode: .close) { _ in .json("{}") }
        let client = BackendHTTPClient()
        for _ in 0..<3 { #expect(try await get(client, fake).status == 200) }
        #expect(Set(fake.requests.map(\.connection)).count == 3)
        #expect(client.pool.idleCount == 0)
        await fake.stop()
    }

    /// A server that closes without saying so: the next request finds the pooled
    /// connection dead and is sent again on a fresh one, invisibly to the caller.
    @Test func deadPooledConnectionIsRetriedOnAFreshOne() async throws {
        let fake = try await FakeBackend.start(mode: .closeWithoutTelling) { _ in .json("{}") }
        let client = BackendHTTPClient()
        for _ in 0..<4 { #expect(try await get(client, fake).status == 200) }
        #expect(fake.requests.count == 4)
        await fake.stop()
    }

    @Test func idleConnectionsAreCappedPerBackend() async throws {
        let fake = try await FakeBackend.start(mode: .keepAlive) { _ in .json("{}") }
        let client = BackendHTTPClient(configuration: .init(maxIdleConnectionsPerBackend: 2))
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<6 { group.addTask { try await get(client, fake).status } }
            for try await status in group { #expect(status == 200) }
        }
        #expect(client.pool.idleCount <= 2)
        client.shutdown()
        await fake.stop()
    }

    @Test func zeroIdleMeansAConnectionPerRequest() async throws {
        let fake = try await FakeBackend.start(mode: .keepAlive) { _ in .json("{}") }
        let client = BackendHTTPClient(configuration: .init(maxIdleConnectionsPerBackend: 0))
        for _ in 0..<3 { _ = try await get(client, fake) }
        #expect(Set(fake.requests.map(\.connection)).count == 3)
        await fake.stop()
    }

    /// A timed-out connection is never pooled: its late answer must not reach the next call.
    @Test func timedOutConnectionIsNotReused() async throws {
        let fake = try await FakeBackend.start(mode: .keepAlive) { request in request.path == "/slow" ? .hang : .json("{}") }
        let client = BackendHTTPClient()
        let url = try BackendURL(parsing: fake.url)
        _ = try await client.execute(BackendRequest(method: .GET, url: url, path: "/x"))
        await #expect(throws: ToolError.self) {
            try await client.execute(BackendRequest(method: .GET, url: url, path: "/slow", timeout: .milliseconds(200)))
        }
        _ = try await client.execute(BackendRequest(method: .GET, url: url, path: "/x"))
        let requests = fake.requests
        #expect(requests.count == 3)
        #expect(requests[2].connection != requests[1].connection)
        client.shutdown()
        await fake.stop()
    }
}
