import Auth
import NIOCore
import NIOEmbedded
import Synchronization
import Testing
@testable import MCPServerKit

/// The handshake notifier tells the admission ticket once and then leaves the pipeline
/// (issue 4: memory per open connection; DESIGN.md "Reject early and cheaply": the gate
/// counts handshakes in progress).
@Suite struct HandshakeNotifierTests {
    final class Ticket: AdmissionTicket {
        let handshakes = Mutex(0)
        func handshakeFinished() { handshakes.withLock { $0 += 1 } }
        func connectionIdle(_ idle: Bool) {}
        func serving(_ serving: Bool) {}
    }

    struct Done {}

    struct Security: ConnectionSecurity {
        func makeHandlers(for channel: any Channel) throws -> [any ChannelHandler] { [] }
        func isHandshakeCompletion(_ event: Any) -> Bool { event is Done }
        func clientCertificate(of channel: any Channel) -> CertificateThumbprint? { nil }
    }

    /// Records the user events that reach the end of the pipeline.
    final class EventSink: ChannelInboundHandler {
        typealias InboundIn = NIOAny
        var events: [String] = []
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            events.append(String(describing: type(of: event)))
        }
    }

    @Test("other events pass through; the completion is reported once, passed on, and the notifier leaves")
    func notifiesOnceAndLeaves() throws {
        let ticket = Ticket()
        let sink = EventSink()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HandshakeNotifier(ticket: ticket, security: Security()))
        try channel.pipeline.syncOperations.addHandler(sink)
        channel.pipeline.fireUserInboundEventTriggered(42)
        #expect(ticket.handshakes.withLock { $0 } == 0)
        #expect(throws: Never.self) { try channel.pipeline.syncOperations.context(handlerType: HandshakeNotifier.self) }
        channel.pipeline.fireUserInboundEventTriggered(Done())
        channel.embeddedEventLoop.run()
        #expect(ticket.handshakes.withLock { $0 } == 1)
        #expect(sink.events == ["Int", "Done"])
        #expect(throws: ChannelPipelineError.self) { try channel.pipeline.syncOperations.context(handlerType: HandshakeNotifier.self) }
        _ = try? channel.finish()
    }
}
