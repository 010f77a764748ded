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

    /// A client that closes looks, before the server writes, like one that half-closed: work
    /// registered `atEndOfInput` (a 2026-07-28 or Go API call) ends there, an event stream
    /// only at the close, since a half-closed client still reads it.
    @Test("the end of input runs only what is registered for it, then at once; the rest waits for the close")
    func endOfInputRunsOnlyWhatIsRegisteredForIt() {
        let watch = ConnectionWatch()
        let (call, stream, later) = (Count(), Count(), Count())
        watch.onClose(atEndOfInput: true) { call.add() }
        watch.inputEnded()
        #expect(call.current == 1)
        watch.onClose { stream.add() }
        watch.inputEnded()
        #expect(stream.current == 0, "an event stream is not ended by the end of input")
        watch.closed()
        #expect(stream.current == 1, "but by the close")
        watch.onClose(atEndOfInput: true) { later.add() }
        #expect(later.current == 1, "after the end of input and the close, a call registered ends at once")
        #expect(call.current == 1, "the call ran once")
        let afterInput = ConnectionWatch()
        afterInput.inputEnded()
        afterInput.onClose(atEndOfInput: true) { later.add() }
        #expect(later.current == 2, "after the end of input, a call registered for it ends at once")
    }

    @Test("the close runs an action registered for the end of input too")
    func closeRunsAnEndOfInputAction() {
        let watch = ConnectionWatch()
        let ran = Count()
        watch.onClose(atEndOfInput: true) { ran.add() }
        watch.closed()
        watch.inputEnded()
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
