import NIOCore
import NIOEmbedded
import Synchronization
import Testing
@testable import MCPServerKit

/// A connection's watch: what a closing connection cancels (2026-07-28
/// basic/transports/streamable-http.mdx: closing the response stream cancels the request).
@Suite struct ConnectionWatchTests {
    final class Count: Sendable {
        private let value = Mutex(0)
        var current: Int { value.withLock { $0 } }
        func add() { value.withLock { $0 += 1 } }
    }

    @Test("the close runs the registered action once; a cleared action is not run")
    func closeRunsTheRegisteredAction() {
        let watch = ConnectionWatch()
        let (ran, cleared) = (Count(), Count())
        watch.onClose { cleared.add() }
        watch.clear()
        watch.onClose { ran.add() }
        watch.closed()
        watch.closed()
        #expect(ran.current == 1)
        #expect(cleared.current == 0)
    }

    @Test("after the close, an action registered runs at once")
    func lateRegistrationRunsAtOnce() {
        let watch = ConnectionWatch()
        watch.closed()
        let ran = Count()
        watch.onClose { ran.add() }
        #expect(ran.current == 1)
    }

    @Test("whileConnected: the work is cancelled when the connection closes, and at once after it")
    func workIsCancelledByTheClose() async {
        let watch = ConnectionWatch()
        let (started, start) = AsyncStream.makeStream(of: Void.self)
        async let cancelled: Bool = watch.whileConnected {
            start.yield()
            try? await Task.sleep(for: .seconds(600))
            return Task.isCancelled
        }
        for await _ in started { break }
        watch.closed()
        #expect(await cancelled)
        #expect(await watch.whileConnected { Task.isCancelled }, "closed already: cancelled from the start")
    }

    @Test("a context without a tracked connection: never fires while the channel is open, at once once it is closed")
    func unwatchedFollowsTheChannel() async throws {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        let ran = Count()
        ConnectionWatch.unwatched(channel).onClose { ran.add() }
        #expect(ran.current == 0)
        try await channel.close()
        ConnectionWatch.unwatched(channel).onClose { ran.add() }
        #expect(ran.current == 1)
    }
}
