import Auth
import NIOCore
import NIOEmbedded
import Synchronization
import Testing
@testable import MCPServerKit

/// The handler under the HTTP decoder tells the admission ticket once that the TLS handshake
/// completed (DESIGN.md "Reject early and cheaply": the gate counts handshakes in progress),
/// and passes every event on.
@Suite struct RawRequestStartHandlerTests {
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

    @Test("other events pass through; the completion is reported once and passed on, every time")
    func reportsTheHandshakeOnce() throws {
        let ticket = Ticket()
        let sink = EventSink()
        let channel = EmbeddedChannel()
        let deadlines = RequestDeadlines(headerTimeout: .seconds(10), ticket: ticket) { _ in }
        try channel.pipeline.syncOperations.addHandler(RawRequestStartHandler(deadlines: deadlines, handshake: Security()))
        try channel.pipeline.syncOperations.addHandler(sink)
        channel.pipeline.fireUserInboundEventTriggered(42)
        #expect(ticket.handshakes.withLock { $0 } == 0)
        channel.pipeline.fireUserInboundEventTriggered(Done())
        #expect(ticket.handshakes.withLock { $0 } == 1)
        // A second completion event (none is sent, but nothing relies on that) is not a second report.
        channel.pipeline.fireUserInboundEventTriggered(Done())
        #expect(ticket.handshakes.withLock { $0 } == 1)
        #expect(sink.events == ["Int", "Done", "Done"])
        _ = try? channel.finish()
    }

    @Test("without a handshake to watch (plaintext: the ticket was told at accept) nothing is reported")
    func plaintextReportsNothing() throws {
        let ticket = Ticket()
        let channel = EmbeddedChannel()
        let deadlines = RequestDeadlines(headerTimeout: .seconds(10), ticket: ticket) { _ in }
        try channel.pipeline.syncOperations.addHandler(RawRequestStartHandler(deadlines: deadlines))
        channel.pipeline.fireUserInboundEventTriggered(Done())
        #expect(ticket.handshakes.withLock { $0 } == 0)
        _ = try? channel.finish()
    }
}
