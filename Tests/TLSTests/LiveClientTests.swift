import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import TLS

/// Our client role over a real loopback socket (as the outbound tool client will use it).
@Suite("Live TLS client role")
struct LiveClientTests {
    let fixtures = Fixtures.shared

    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let done: EventLoopPromise<String>
        var text = ""
        init(done: EventLoopPromise<String>) { self.done = done }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            text += String(buffer: unwrapInboundIn(data))
            if text.contains("BYE") { done.succeed(text) }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { done.fail(error) }
        func channelInactive(context: ChannelHandlerContext) { done.fail(ChannelError.eof) }
    }

    func roundTrip(serverName: String, client: TLSContext) throws -> String {
        let server = try LiveEchoServer(context: fixtures.serverContext())
        defer { server.shutdown() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let done = group.next().makePromise(of: String.self)
        let channel = try ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        TLSHandler(context: client, role: .client(serverName: serverName)),
                        Collector(done: done),
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: server.port).wait()
        defer { _ = channel.close() }
        channel.writeAndFlush(ByteBuffer(string: "hello BYE"), promise: nil)
        let timeout = group.next().scheduleTask(in: .seconds(10)) { done.fail(ChannelError.connectTimeout(.seconds(10))) }
        defer { timeout.cancel() }
        return try done.futureResult.wait()
    }

    @Test("Client role: verifies chain + host name, sends SNI, data round-trips")
    func clientRoundTrip() throws {
        #expect(try roundTrip(serverName: "localhost", client: fixtures.clientContext()) == "hello BYE")
    }

    /// A backend `ca_file` may hold an intermediate, or the backend's own certificate: what
    /// the operator put there is a trust anchor (X509_V_FLAG_PARTIAL_CHAIN, as curl does).
    /// The host name is still checked.
    @Test func aCAFileMayHoldTheCertificateItself() throws {
        #expect(try roundTrip(serverName: "localhost", client: fixtures.clientContext(ca: fixtures.chain)) == "hello BYE")
        #expect(throws: TLSError.self) { try roundTrip(serverName: "wrong.example", client: fixtures.clientContext(ca: fixtures.chain)) }
        #expect(throws: TLSError.self) { try roundTrip(serverName: "localhost", client: fixtures.clientContext(ca: fixtures.clientChain)) }
    }

    @Test("Client role: a wrong host name fails over a real socket too")
    func clientWrongHost() throws {
        #expect(throws: TLSError.self) { try roundTrip(serverName: "wrong.example", client: fixtures.clientContext()) }
    }
}
