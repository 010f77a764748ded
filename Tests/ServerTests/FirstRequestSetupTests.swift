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
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            reads.append(String(buffer: unwrapInboundIn(data)))
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
}

@Suite struct OpenConnectionsTests {
    @Test("waits until every connection has closed; quiesce reaches each one")
    func waitsForAll() async throws {
        final class QuiesceCloser: ChannelInboundHandler {
            typealias InboundIn = NIOAny
            func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
                if event is ChannelShouldQuiesceEvent { context.close(promise: nil) }
            }
        }
        let connections = OpenConnections()
        await connections.waitUntilEmpty()  // none open: returns at once
        let channels = (0..<3).map { _ in EmbeddedChannel(handler: QuiesceCloser()) }
        for channel in channels {
            try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
            connections.insert(channel)
        }
        #expect(connections.count == 3)
        let waiter = Task { await connections.waitUntilEmpty() }
        try await channels[0].close().get()
        channels[0].embeddedEventLoop.run()
        #expect(connections.count == 2)
        connections.quiesce()
        for channel in channels { channel.embeddedEventLoop.run() }
        await waiter.value
        #expect(connections.count == 0)
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
