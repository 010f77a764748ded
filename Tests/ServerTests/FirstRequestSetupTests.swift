import NIOCore
import NIOEmbedded
import Synchronization
import Testing
@testable import MCPServerKit

/// The HTTP layer is installed at the first request byte (issue 3: CPU per new connection
/// and RSS per idle connection; issue 4: graceful shutdown closes connections that have not
/// sent a request).
@Suite struct FirstRequestSetupTests {
    /// Stands in for the HTTP layer: records what reaches it.
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var reads: [String] = []
        /// Reads and read completions ("|"), in order.
        var events: [String] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            reads.append(String(buffer: unwrapInboundIn(data)))
            events.append(reads.last!)
        }
        func channelReadComplete(context: ChannelHandlerContext) {
            events.append("|")
        }
    }

    final class Counter { var value = 0 }

    /// A channel with the set-up handler; `install` adds a Recorder and yields its value.
    func makeChannel(installs: Counter, recorder: Recorder, fail: Bool = false) throws -> (EmbeddedChannel, EventLoopFuture<Int>) {
        let channel = EmbeddedChannel()
        let promise = channel.eventLoop.makePromise(of: Int.self)
        let setup = FirstRequestSetup<Int>(promise: promise) { channel in
            installs.value += 1
            if fail { return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(recorder)
                return 7
            }
        }
        try channel.pipeline.syncOperations.addHandler(setup)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, promise.futureResult)
    }

    func result(_ future: EventLoopFuture<Int>) -> Result<Int, any Error>? {
        let box = Mutex<Result<Int, any Error>?>(nil)
        future.whenComplete { result in box.withLock { $0 = result } }
        return box.withLock { $0 }
    }

    @Test("nothing is installed until the first byte; then every read reaches the HTTP layer in order and the handler leaves")
    func installsAtFirstRead() throws {
        let installs = Counter()
        let recorder = Recorder()
        let (channel, future) = try makeChannel(installs: installs, recorder: recorder)
        channel.pipeline.fireUserInboundEventTriggered(42)  // e.g. the TLS handshake's completion
        #expect(installs.value == 0)
        #expect(result(future) == nil)
        try channel.writeInbound(ByteBuffer(string: "POST /mcp"))
        try channel.writeInbound(ByteBuffer(string: " HTTP/1.1"))
        #expect(installs.value == 1)
        #expect(try result(future)?.get() == 7)
        #expect(recorder.reads == ["POST /mcp", " HTTP/1.1"])
        #expect(throws: ChannelPipelineError.self) { try channel.pipeline.syncOperations.context(handlerType: FirstRequestSetup<Int>.self) }
        _ = try? channel.finish()
    }

    /// The socket read that carries the first request can hold several TLS records: the
    /// layer above must see all of them before the read completes (a completion after the
    /// first one made the dispatcher stream a body that was in fact all there).
    @Test("the first read's records reach the HTTP layer before its one read completion")
    func oneReadCompletion() throws {
        let recorder = Recorder()
        let (channel, _) = try makeChannel(installs: Counter(), recorder: recorder)
        channel.pipeline.fireChannelRead(ByteBuffer(string: "head"))
        channel.pipeline.fireChannelRead(ByteBuffer(string: "body"))
        channel.pipeline.fireChannelReadComplete()
        #expect(recorder.events == ["head", "body", "|"])
        _ = try? channel.finish()
    }

    @Test("a connection that closes before its first byte fails the future and never installs")
    func closedBeforeRequest() throws {
        let installs = Counter()
        let (channel, future) = try makeChannel(installs: installs, recorder: Recorder())
        _ = try? channel.finish()
        #expect(installs.value == 0)
        #expect(throws: FirstRequestSetup<Int>.ClosedBeforeRequest.self) { try result(future)?.get() }
    }

    @Test("quiescing (graceful shutdown) or the client's end of input closes a connection with no request yet")
    func quiesceAndInputClosed() throws {
        for event: Any in [ChannelShouldQuiesceEvent(), ChannelEvent.inputClosed] {
            let (channel, future) = try makeChannel(installs: Counter(), recorder: Recorder())
            channel.pipeline.fireUserInboundEventTriggered(event)
            channel.embeddedEventLoop.run()
            #expect(!channel.isActive, "\(event)")
            #expect(throws: FirstRequestSetup<Int>.ClosedBeforeRequest.self) { try result(future)?.get() }
        }
    }

    @Test("a failed install fails the future and closes the connection")
    func failedInstall() throws {
        let (channel, future) = try makeChannel(installs: Counter(), recorder: Recorder(), fail: true)
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
        #expect(throws: ChannelError.self) { try result(future)?.get() }
    }

    @Test("an error before the first request closes the connection")
    func errorWhileWaiting() throws {
        let (channel, future) = try makeChannel(installs: Counter(), recorder: Recorder())
        channel.pipeline.fireErrorCaught(ChannelError.inappropriateOperationForState)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
        #expect(throws: FirstRequestSetup<Int>.ClosedBeforeRequest.self) { try result(future)?.get() }
    }

    /// Records reads and events in arrival order.
    final class OrderRecorder: ChannelInboundHandler, @unchecked Sendable {  // used on the embedded loop only
        typealias InboundIn = ByteBuffer
        var seen: [String] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { seen.append(String(buffer: unwrapInboundIn(data))) }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) { seen.append("event \(event)") }
    }

    @Test("reads and events that arrive while an install is still pending reach the HTTP layer in order")
    func installCompletingLater() throws {
        let channel = EmbeddedChannel()
        let recorder = OrderRecorder()
        let promise = channel.eventLoop.makePromise(of: Int.self)
        let installed = channel.eventLoop.makePromise(of: Int.self)
        let setup = FirstRequestSetup<Int>(promise: promise) { channel in
            installed.futureResult.flatMapThrowing { value in
                try channel.pipeline.syncOperations.addHandler(recorder)
                return value
            }
        }
        try channel.pipeline.syncOperations.addHandler(setup)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "a"))
        try channel.writeInbound(ByteBuffer(string: "b"))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(channel.isActive, "the end of input while installing is for the HTTP layer, not a close")
        #expect(recorder.seen.isEmpty)
        installed.succeed(3)
        channel.embeddedEventLoop.run()
        #expect(recorder.seen == ["a", "b", "event inputClosed"])
        #expect(try result(promise.futureResult)?.get() == 3)
        _ = try? channel.finish()
    }
}

@Suite struct OpenConnectionsTests {
    /// Closes its channel when asked to quiesce, as the HTTP layer and FirstRequestSetup do.
    final class QuiesceCloser: ChannelInboundHandler, Sendable {
        typealias InboundIn = NIOAny
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ChannelShouldQuiesceEvent { context.close(promise: nil) }
        }
    }

    final class Flag: Sendable {
        private let value = Mutex(false)
        var isSet: Bool { value.withLock { $0 } }
        func set() { value.withLock { $0 = true } }
    }

    /// Starts `waitUntilEmpty` in a task; the flag is set when it returns.
    func startWaiting(_ connections: OpenConnections) -> Flag {
        let returned = Flag()
        Task {
            await connections.waitUntilEmpty()
            returned.set()
        }
        return returned
    }

    /// Whether `flag` is set within `seconds` (polled; a hang is a failure, not a stuck test).
    func eventually(_ flag: Flag, within seconds: Double = 5) async -> Bool {
        let end = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < end {
            if flag.isSet { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return flag.isSet
    }

    @Test("waits until every connection has closed and every task returned; quiesce reaches each connection")
    func waitsForConnectionsAndTasks() async throws {
        let connections = OpenConnections()
        #expect(await eventually(startWaiting(connections)), "nothing open: returns at once")
        var channels: [NIOAsyncTestingChannel] = []
        for _ in 0..<3 {
            let channel = try await NIOAsyncTestingChannel(handler: QuiesceCloser())
            try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
            connections.insert(channel, watch: ConnectionWatch())
            channels.append(channel)
        }
        // A request task that returns only when released.
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        connections.run { for await _ in released { return } }
        #expect(connections.count == 3)
        #expect(connections.taskCount == 1)
        try await channels[0].close()
        #expect(connections.count == 2)
        connections.quiesce()
        for channel in channels { await channel.testingEventLoop.run() }
        #expect(connections.count == 0)
        let waiting = startWaiting(connections)
        #expect(!(await eventually(waiting, within: 0.5)), "a task is still running")
        release.yield()
        #expect(await eventually(waiting))
        #expect(connections.taskCount == 0)
    }

    @Test("closeAll (forced shutdown) closes the connections and cancels the tasks; each connection's watch is told")
    func closeAllCancels() async throws {
        let connections = OpenConnections()
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        let watch = ConnectionWatch()
        let told = Flag()
        watch.onClose { told.set() }
        connections.insert(channel, watch: watch)
        connections.run { try? await Task.sleep(for: .seconds(600)) }
        let waiting = startWaiting(connections)
        connections.closeAll()
        await channel.testingEventLoop.run()
        #expect(await eventually(waiting))
        #expect(!channel.isActive)
        #expect(told.isSet, "the watch heard of the close")
    }
}

@Suite struct HTTPDateTests {
    @Test("IMF-fixdate (RFC 9110 §5.6.7), including the RFC's own example, a leap day and the epoch")
    func format() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(HTTPDate.format(1_796_083_199) == "Mon, 30 Nov 2026 23:59:59 GMT")
        #expect(HTTPDate.format(-1) == "Wed, 31 Dec 1969 23:59:59 GMT")
    }
}
