import COpenSSL
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOEmbedded
import Synchronization
import Testing
@testable import TLS

/// In-memory back-to-back tests: our server role against our client role, no sockets.
@Suite("TLSHandler back to back")
struct TLSHandlerTests {
    let fixtures = Fixtures.shared

    /// RFC 8446 §4.6.3: a KeyUpdate costs the receiver a key derivation, and OpenSSL takes any
    /// number of them. Within the cap the connection goes on; one more closes it, counted;
    /// and a read full of them is not processed whole (the BIO stops feeding OpenSSL past the
    /// cap: one `SSL_read` would otherwise derive keys for every KeyUpdate in it).
    @Test("a client's KeyUpdates are counted: within the cap the connection goes on, one more closes it, and a read full of them stops at the cap")
    func keyUpdatesAreCapped() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(), maxKeyUpdates: 2)
        defer { pair.finish() }
        try pair.handshake()
        let ssl = try #require(pair.clientHandler.connection?.ssl)
        for i in 1...2 {
            #expect(SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1)
            try pair.client.writeAndFlush(ByteBuffer(string: "ping\(i) ")).wait()
            try pair.pump()
        }
        #expect(pair.server.isActive)
        #expect(pair.serverRecorder.text == "ping1 ping2 ")
        #expect(pair.serverHandler.connection?.bio.keyUpdates == 2)
        #expect(SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED) == 1)
        try pair.client.writeAndFlush(ByteBuffer(string: "ping3")).wait()
        try pair.pump()
        #expect(!pair.server.isActive)
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.tooManyKeyUpdates])
        #expect(pair.serverObserver.keyUpdatesClosed == 1)

        // Twenty in one read: OpenSSL is stopped at the third.
        let batch = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(), maxKeyUpdates: 2)
        defer { batch.finish() }
        try batch.handshake()
        let client = try #require(batch.clientHandler.connection?.ssl)
        var all = ByteBuffer()
        for _ in 0..<20 {
            #expect(SSL_key_update(client, SSL_KEY_UPDATE_NOT_REQUESTED) == 1)
            try batch.client.writeAndFlush(ByteBuffer(string: "x")).wait()
            while var bytes = try batch.client.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&bytes) }
        }
        try batch.server.writeInbound(all)
        #expect(!batch.server.isActive)
        #expect(batch.serverHandler.connection?.bio.keyUpdates == 3)
        #expect(batch.serverObserver.keyUpdatesClosed == 1)
    }

    @Test("Handshake completes, TLS 1.3, ALPN http/1.1 (RFC 7301 §3.2), observer sees ok")
    func handshake() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.events == [.handshakeCompleted(alpn: "http/1.1")])
        #expect(pair.clientRecorder.events == [.handshakeCompleted(alpn: "http/1.1")])
        #expect(pair.serverHandler.negotiatedProtocol == "TLSv1.3")
        #expect(pair.serverHandler.requestedServerName == "localhost", "client role sends SNI (RFC 6066 §3)")
        #expect(pair.serverObserver.all == [.ok])
        #expect(pair.clientObserver.all == [.ok])
        #expect(pair.serverRecorder.errors.isEmpty && pair.clientRecorder.errors.isEmpty)
    }

    @Test("Application data flows both ways, including multi-record payloads (RFC 8446 §5.1)")
    func dataBothWays() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        try pair.client.writeAndFlush(ByteBuffer(string: "ping")).wait()
        try pair.pump()
        #expect(pair.serverRecorder.text == "ping")
        let big = String(repeating: "0123456789abcdef", count: 6_400)  // 100 KiB: 7 records
        try pair.server.writeAndFlush(ByteBuffer(string: big)).wait()
        try pair.pump()
        #expect(pair.clientRecorder.text == big)
    }

    /// A client that has received only the first record of a session ticket the server split
    /// over records (it carries the client's certificate, in 512-byte fragments), and the
    /// rest of the server's flight (the ticket's other records, then "x").
    func halfReceivedTicket() throws -> (Pair, rest: ByteBuffer) {
        let server = try TLSContext.server(TLSServerSettings(
            certificateChainFile: fixtures.chain, privateKeyFile: fixtures.key, clientAuth: .required,
            clientCAFile: fixtures.ca, sessionTickets: true))
        let pair = try Pair(serverContext: server, clientContext: fixtures.clientContext(identity: true))
        try pair.handshake()
        let ssl = try #require(pair.serverHandler.connection?.ssl)
        #expect(SSL_ctrl(ssl, SSL_CTRL_SET_MAX_SEND_FRAGMENT, 512, nil) == 1)
        #expect(SSL_new_session_ticket(ssl) == 1)
        pair.server.writeAndFlush(ByteBuffer(string: "x"), promise: nil)
        var flight = ByteBuffer()
        while var part = try pair.server.readOutbound(as: ByteBuffer.self) { flight.writeBuffer(&part) }
        let firstLength = 5 + Int(flight.getInteger(at: flight.readerIndex + 3, as: UInt16.self)!)
        #expect(flight.readableBytes > firstLength + 5, "the ticket takes more than one record")
        try pair.client.writeInbound(flight.readSlice(length: firstLength)!)
        return (pair, flight)
    }

    /// Until the last record of a post-handshake message arrives OpenSSL is "in init", and
    /// an SSL_write then wants to read. The write must wait for that read, not fail the
    /// connection (swift-nio-ssl retries it after the next read too).
    @Test("a write while a post-handshake message is half received waits for the rest of it")
    func writeWhileAPostHandshakeMessageIsHalfReceived() throws {
        let (pair, rest) = try halfReceivedTicket()
        defer { pair.finish() }
        let written = pair.client.eventLoop.makePromise(of: Void.self)
        pair.client.writeAndFlush(ByteBuffer(string: "req"), promise: written)
        #expect(pair.clientRecorder.tlsErrors.isEmpty)
        #expect(pair.client.isActive)
        try pair.client.writeInbound(rest)
        try pair.pump()
        #expect(pair.clientRecorder.tlsErrors.isEmpty)
        #expect(pair.serverRecorder.text == "req")
        #expect(pair.clientRecorder.text == "x")
        try written.futureResult.wait()
    }

    @Test("a half-close while writes wait for the rest of the peer's post-handshake message fails them and closes, rather than send a FIN they cannot follow")
    func halfCloseWithBlockedWrites() throws {
        let (pair, _) = try halfReceivedTicket()
        defer { pair.finish() }
        let written = pair.client.eventLoop.makePromise(of: Void.self)
        var outcome: Result<Void, any Error>?
        written.futureResult.whenComplete { outcome = $0 }
        pair.client.writeAndFlush(ByteBuffer(string: "req"), promise: written)
        #expect(pair.client.isActive)
        pair.client.close(mode: .output, promise: nil)
        #expect(!pair.client.isActive)
        guard case .failure(let error) = outcome else { Issue.record("the blocked write is still pending: \(String(describing: outcome))"); return }
        #expect(error is TLSError)
        #expect(!pair.clientOutput.outputClosed, "no half-close")
    }

    @Test("a half-close while the peer's post-handshake message is half received closes instead: no close_notify can be sent")
    func halfCloseWhileInInit() throws {
        let (pair, _) = try halfReceivedTicket()
        defer { pair.finish() }
        pair.client.close(mode: .output, promise: nil)
        #expect(!pair.client.isActive)
        #expect(!pair.clientOutput.outputClosed, "no half-close without close_notify")
    }

    @Test("writes blocked on a half-received handshake message are bounded by the ciphertext cap")
    func blockedWritesAreBounded() throws {
        let (pair, _) = try halfReceivedTicket()
        defer { pair.finish() }
        // The peer never sends the rest: what is written meanwhile waits, up to the cap.
        let chunk = ByteBuffer(repeating: 0x61, count: 64 * 1024)
        for _ in 0..<5 where pair.client.isActive { pair.client.writeAndFlush(chunk, promise: nil) }
        #expect(pair.clientRecorder.tlsErrors.map(\.kind) == [.bufferLimitExceeded])
        #expect(!pair.client.isActive)
    }

    @Test("a TLS 1.3 KeyUpdate from either side, asking for one back, leaves data flowing both ways (RFC 8446 §4.6.3)")
    func keyUpdate() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        #expect(SSL_key_update(try #require(pair.clientHandler.connection?.ssl), SSL_KEY_UPDATE_REQUESTED) == 1)
        try pair.client.writeAndFlush(ByteBuffer(string: "one")).wait()
        try pair.pump()
        try pair.server.writeAndFlush(ByteBuffer(string: "two")).wait()
        try pair.pump()
        #expect(SSL_key_update(try #require(pair.serverHandler.connection?.ssl), SSL_KEY_UPDATE_REQUESTED) == 1)
        try pair.server.writeAndFlush(ByteBuffer(string: "three")).wait()
        try pair.pump()
        try pair.client.writeAndFlush(ByteBuffer(string: "four")).wait()
        try pair.pump()
        #expect(pair.serverRecorder.text == "onefour")
        #expect(pair.clientRecorder.text == "twothree")
        #expect(pair.serverRecorder.tlsErrors.isEmpty && pair.clientRecorder.tlsErrors.isEmpty)
    }

    @Test("Writes made before the handshake finishes are sent after it")
    func writeBeforeHandshake() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        let written = pair.client.writeAndFlush(ByteBuffer(string: "early"))
        try pair.handshake()
        try written.wait()
        #expect(pair.serverRecorder.text == "early")
    }

    @Test("Every byte split into its own read: handshake and data still work")
    func oneByteSplits() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake(chunk: 1)
        #expect(pair.serverObserver.all == [.ok])
        try pair.client.writeAndFlush(ByteBuffer(string: "split into single bytes")).wait()
        try pair.pump(chunk: 1)
        #expect(pair.serverRecorder.text == "split into single bytes")
    }

    /// The client seals each flushed write as its own record; all of them reach the server in
    /// one read, as NIO delivers up to 64 KiB at a time.
    func tinyRecords(_ pair: Pair, count: Int, size: Int) throws -> ByteBuffer {
        for index in 0..<count {
            pair.client.writeAndFlush(ByteBuffer(string: String(repeating: String(index % 10), count: size)), promise: nil)
        }
        var ciphertext = ByteBuffer()
        while var record = try pair.client.readOutbound(as: ByteBuffer.self) { ciphertext.writeBuffer(&record) }
        return ciphertext
    }

    @Test("1-byte records are decrypted into shared buffers, not a 16 KiB buffer each")
    func tinyRecordsShareBuffers() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        let ciphertext = try tinyRecords(pair, count: 1_000, size: 1)
        #expect(ciphertext.readableBytes >= 22_000, "one record per write")
        try pair.server.writeInbound(ciphertext)
        #expect(pair.serverRecorder.received.readableBytes == 1_000)
        // One buffer per record held 16 MiB for these 1,000 bytes.
        #expect(pair.serverRecorder.capacities <= 64 * 1024, "\(pair.serverRecorder.capacities) bytes of buffers")
    }

    /// OpenSSL reads a partial record into its own record buffer (bounded by the record
    /// size), so ours is empty after every read and never carries bytes already read along:
    /// a peer ending every segment inside the next record cannot grow it.
    @Test("Reads that always end inside the next record leave no ciphertext in our buffer")
    func partialRecordLeftEveryRead() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        var ciphertext = try tinyRecords(pair, count: 1_000, size: 100)
        // Record boundaries from the 5-byte headers (RFC 8446 §5.1); each read ends one byte
        // past one, so a partial record is always left over.
        var boundaries: [Int] = []
        var offset = 0
        while offset < ciphertext.readableBytes {
            offset += 5 + Int(ciphertext.getInteger(at: ciphertext.readerIndex + offset + 3, as: UInt16.self)!)
            boundaries.append(offset)
        }
        #expect(boundaries.count == 1_000 && offset == ciphertext.readableBytes)
        var largest = 0
        var sent = 0
        for boundary in boundaries.dropLast() {
            try pair.server.writeInbound(ciphertext.readSlice(length: boundary + 1 - sent)!)
            sent = boundary + 1
            largest = max(largest, pair.serverHandler.connection?.bio.inbound.capacity ?? 0)
        }
        try pair.server.writeInbound(ciphertext)
        #expect(pair.serverRecorder.received.readableBytes == 100_000)
        #expect(largest == 0, "the ciphertext buffer kept \(largest) bytes")
    }

    @Test("close() sends close_notify; the peer answers with its own and closes (RFC 8446 §6.1)")
    func closeNotify() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        try pair.client.close().wait()
        try pair.pump()
        #expect(pair.serverRecorder.events.contains(.closeNotifyReceived))
        #expect(!pair.server.isActive)
        #expect(pair.serverRecorder.errors.isEmpty)
    }

    @Test("After a socket error (a reset) close() writes no close_notify; without one it does")
    func noCloseNotifyAfterReset() throws {
        for reset in [false, true] {
            let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
            defer { pair.finish() }
            try pair.handshake()
            #expect(try pair.server.readOutbound(as: ByteBuffer.self) == nil)
            if reset { pair.server.pipeline.fireErrorCaught(IOError(errnoCode: ECONNRESET, reason: "read(descriptor:pointer:size:)")) }
            pair.server.close(promise: nil)
            let written = try pair.server.readOutbound(as: ByteBuffer.self)
            #expect((written == nil) == reset, "reset: \(reset)")
        }
    }

    @Test("close(mode: .output) during the handshake closes the connection: the handshake could not finish")
    func halfCloseDuringTheHandshake() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.server.close(mode: .output).wait()
        #expect(!pair.serverOutput.outputClosed)
        #expect(!pair.server.isActive)
    }

    @Test("Half-closure: close(mode: .output) sends close_notify, the server may still answer")
    func halfClose() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.server.syncOptions!.setOption(.allowRemoteHalfClosure, value: true)
        try pair.handshake()
        try pair.client.writeAndFlush(ByteBuffer(string: "request")).wait()
        try pair.client.close(mode: .output).wait()
        #expect(pair.clientOutput.outputClosed)
        try pair.pump()
        #expect(pair.serverRecorder.text == "request")
        #expect(pair.serverRecorder.events.contains(.closeNotifyReceived))
        #expect(pair.serverRecorder.inputClosed)
        #expect(pair.server.isActive)
        try pair.server.writeAndFlush(ByteBuffer(string: "response")).wait()
        try pair.pump()
        #expect(pair.clientRecorder.text == "response")
    }

    @Test("After close_notify, more bytes and the TCP FIN are ignored: input is reported closed once (RFC 8446 §6.1)")
    func bytesAfterCloseNotifyIgnored() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.server.syncOptions!.setOption(.allowRemoteHalfClosure, value: true)
        try pair.handshake()
        try pair.client.close(mode: .output).wait()
        try pair.pump()
        for _ in 0..<3 { try pair.server.writeInbound(ByteBuffer(repeating: 0x17, count: 100_000)) }
        pair.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(pair.serverRecorder.events.filter { $0 == .closeNotifyReceived }.count == 1)
        #expect(pair.serverRecorder.inputClosedEvents == 1)
        #expect(pair.serverRecorder.errors.isEmpty, "300 KB after close_notify would pass the 256 KiB cap if buffered")
        #expect(pair.server.isActive)
        try pair.server.writeAndFlush(ByteBuffer(string: "still answered")).wait()
        try pair.pump()
        #expect(pair.clientRecorder.text == "still answered")
    }

    @Test("A channel closed while our last handshake flight is flushed stays closed: no handshakeCompleted after it")
    func closedDuringFinalFlight() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(), connect: false)
        defer { pair.finish() }
        let closer = CloseOnFlush()
        try pair.client.pipeline.syncOperations.addHandler(closer, position: .first)
        try pair.connect()
        closer.armed = true  // the ClientHello is out; the client's Finished will fail to send
        try pair.pump()
        #expect(!pair.client.isActive)
        #expect(pair.clientRecorder.events.isEmpty)
        #expect(pair.clientObserver.all == [.closed])
        #expect(pair.clientRecorder.tlsErrors.map(\.kind) == [.handshakeTruncated])
    }

    @Test("close() whose close_notify write closes the channel under it is not reported as a ragged EOF")
    func closeFailingMidWriteIsNotUnclean() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(), connect: false)
        defer { pair.finish() }
        let closer = CloseOnFlush()
        try pair.server.pipeline.syncOperations.addHandler(closer, position: .first)
        try pair.connect()
        try pair.handshake()
        closer.armed = true
        pair.server.close(promise: nil)
        #expect(!pair.server.isActive)
        #expect(pair.serverRecorder.tlsErrors.isEmpty)
    }

    @Test("A TCP EOF without close_notify after the handshake is a ragged EOF (RFC 8446 §6.1)")
    func raggedEOF() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        pair.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.uncleanShutdown])
        #expect(!pair.server.isActive)
    }

    @Test("Channel going inactive without close_notify is also reported as unclean")
    func raggedEOFInactive() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        pair.server.pipeline.fireChannelInactive()
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.uncleanShutdown])
    }

    /// NIO reports a reset (ECONNRESET on read) as an error and then closes the channel: one
    /// failure, not also a missing close_notify.
    @Test("A reset after the handshake is reported once, as the socket's error, not again as a ragged EOF")
    func resetReportedOnce() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        pair.server.pipeline.fireErrorCaught(IOError(errnoCode: ECONNRESET, reason: "read"))
        pair.server.pipeline.fireChannelInactive()
        #expect(pair.serverRecorder.errors.count == 1)
        #expect(pair.serverRecorder.tlsErrors.isEmpty)
    }

    @Test("A write after our close_notify fails at once, flushed or not")
    func writeAfterHalfCloseFailsAtOnce() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        let tls = try pair.server.pipeline.syncOperations.handler(type: TLSHandler.self)
        let context = try pair.server.pipeline.syncOperations.context(handler: tls)
        tls.close(context: context, mode: .output, promise: nil)
        let late = pair.server.eventLoop.makePromise(of: Void.self)
        pair.server.write(ByteBuffer(string: "late"), promise: late)
        var failed: (any Error)?
        late.futureResult.whenFailure { failed = $0 }
        #expect((failed as? TLSError)?.kind == .writeAfterClose)
    }

    @Test("A TCP EOF with part of a record still buffered is also unclean, through OpenSSL's own check")
    func raggedEOFPartialRecord() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        try pair.client.writeAndFlush(ByteBuffer(string: "cut short")).wait()
        let record = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        try pair.server.writeInbound(try #require(record.getSlice(at: record.readerIndex, length: 10)))
        #expect(pair.serverRecorder.text.isEmpty)
        pair.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.uncleanShutdown])
        #expect(!pair.server.isActive)
    }

    @Test("The server sends exactly its chain file: no chain built from the (client CA) verify store (RFC 8446 §4.4.2)")
    func servedChainIsTheChainFile() throws {
        // The dev CA signed the server certificate and is also the client CA here: OpenSSL's
        // auto-chain would append it to the leaf-only chain file.
        let pair = try Pair(
            serverContext: fixtures.serverContext(clientAuth: .optional), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        let ssl = try #require(pair.clientHandler.connection?.ssl)
        let chain = try #require(SSL_get_peer_cert_chain(ssl))
        #expect(OPENSSL_sk_num(chain) == 1)
    }

    @Test("A handshake cut off mid-ClientHello is a truncated handshake, counted as closed")
    func truncatedHandshake() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        var hello = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        let part = hello.readSlice(length: 20)!
        try pair.server.writeInbound(part)
        #expect(pair.server.isActive)
        pair.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.handshakeTruncated])
        #expect(pair.serverObserver.all == [.closed])
        #expect(!pair.server.isActive)
    }

    /// Records the order of the channel's life-cycle events as the layer above sees them.
    final class LifeCycle: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var events: [String] = []
        func channelActive(context: ChannelHandlerContext) { events.append("active") }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { events.append("error") }
        func channelInactive(context: ChannelHandlerContext) { events.append("inactive") }
    }

    @Test("A handshake that cannot start (a server name OpenSSL refuses) ends the channel after the layer above heard it was active")
    func handshakeThatCannotStart() throws {
        let handler = TLSHandler(context: try fixtures.clientContext(), role: .client(serverName: "1.2.3"))
        let lifeCycle = LifeCycle()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([handler, lifeCycle])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        #expect(lifeCycle.events == ["active", "error", "inactive"])
        #expect(!channel.isActive)
    }

    @Test("Plain HTTP sent to the TLS port fails the handshake with a protocol error")
    func garbage() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        let errors = pair.serverRecorder.tlsErrors
        #expect(errors.map(\.kind) == [.handshakeFailed])
        #expect(errors.first?.reason.contains("http request") == true)
        #expect(pair.serverObserver.all == [.protocolError])
        #expect(!pair.server.isActive)
    }

    /// OpenSSL reports "wrong version number" for a first record that does not look like
    /// TLS: counted as a protocol error, not as a client on an old version.
    @Test("Random bytes, or a record header with a nonsense version, instead of a ClientHello are refused as a protocol error",
          arguments: [(0..<512).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) },
                      [0x16, 0x09, 0x09, 0x00, 0x10] + [UInt8](repeating: 1, count: 16)])
    func randomGarbage(bytes: [UInt8]) throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.server.writeInbound(ByteBuffer(bytes: bytes))
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.handshakeFailed])
        #expect(pair.serverObserver.all == [.protocolError], "\(pair.serverRecorder.tlsErrors)")
        #expect(!pair.server.isActive)
    }

    @Test("Garbage after the handshake is a protocol error (bad record MAC / record layer)")
    func garbageAfterHandshake() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        try pair.server.writeInbound(ByteBuffer(bytes: [0x17, 0x03, 0x03, 0x00, 0x20] + Array(repeating: 0xAB, count: 32)))
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.protocolError])
        #expect(!pair.server.isActive)
    }

    @Test("A client that sends nothing is closed at the handshake deadline, not before")
    func handshakeTimeout() throws {
        let pair = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(),
            handshakeTimeout: .seconds(10))
        defer { pair.finish() }
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(pair.server.isActive)
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!pair.server.isActive)
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.handshakeTimeout])
        #expect(pair.serverObserver.all == [.timeout])
    }

    @Test("The deadline is cancelled once the handshake completes")
    func noTimeoutAfterHandshake() throws {
        let pair = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(),
            handshakeTimeout: .seconds(1))
        defer { pair.finish() }
        try pair.handshake()
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(pair.server.isActive)
        #expect(pair.serverObserver.all == [.ok])
    }

    /// The dispatcher closes the channel when its last write's promise completes: that close
    /// must not hide the refusal (its error and its count), so the handler ends first.
    @Test("Unsent ciphertext above half the cap holds back reads; a write while over the cap fails, counted and reported also when its promise's callback closes the channel",
          arguments: [false, true])
    func backpressure(closeOnFailure: Bool) throws {
        let cap = 64 * 1024
        let pair = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(),
            maxBufferedCiphertext: cap)
        defer { pair.finish() }
        try pair.handshake()
        let chunk = ByteBuffer(repeating: 0x61, count: 24 * 1024)
        // Unflushed writes stay "unsent" in EmbeddedChannel: 2 x 24 KiB passes half the cap.
        _ = pair.server.write(chunk)
        _ = pair.server.write(chunk)
        let readsBefore = pair.serverReads.reads
        pair.server.read()
        #expect(pair.serverReads.reads == readsBefore, "read must be held back")
        pair.server.read()
        #expect(pair.serverObserver.backpressure == [.readsPaused], "one pause, however many reads it holds back")
        // A third write is taken (48 KiB unsent is under the cap) and takes the backlog past
        // 64 KiB; a fourth, while over the cap, is refused and the connection closed.
        _ = pair.server.write(chunk)
        let fourth = pair.server.eventLoop.makePromise(of: Void.self)
        if closeOnFailure { fourth.futureResult.whenComplete { _ in pair.server.close(promise: nil) } }
        pair.server.write(chunk, promise: fourth)
        #expect(throws: TLSError.self) { try fourth.futureResult.wait() }
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.bufferLimitExceeded])
        #expect(!pair.server.isActive)
        #expect(pair.serverObserver.backpressure == [.readsPaused, .closed])
    }

    @Test("Held-back reads resume once the peer has taken the ciphertext")
    func backpressureResumes() throws {
        let cap = 64 * 1024
        let pair = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(),
            maxBufferedCiphertext: cap)
        defer { pair.finish() }
        try pair.handshake()
        _ = pair.server.write(ByteBuffer(repeating: 0x61, count: 40 * 1024))
        let readsBefore = pair.serverReads.reads
        pair.server.read()
        #expect(pair.serverReads.reads == readsBefore)
        pair.server.flush()
        #expect(pair.serverReads.reads == readsBefore + 1)
        #expect(pair.server.isActive)
        // A second backlog is a second pause.
        _ = pair.server.write(ByteBuffer(repeating: 0x61, count: 40 * 1024))
        pair.server.read()
        #expect(pair.serverObserver.backpressure == [.readsPaused, .readsPaused])
    }

    /// Small writes go out without a promise while what may be unsent is under an eighth of
    /// the cap; a tracked write's completion then confirms every byte before it. Were the
    /// untracked bytes never confirmed, 200 responses of 1 KiB (200 KiB, over the 64 KiB cap)
    /// would hold back reads and then end the connection, though every one was written.
    @Test("Many small flushed writes neither hold back reads nor reach the cap")
    func smallWritesAreConfirmed() throws {
        let pair = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(),
            maxBufferedCiphertext: 64 * 1024)
        defer { pair.finish() }
        try pair.handshake()
        for _ in 0..<200 {
            // As the HTTP layer writes a response: no promise.
            pair.server.write(ByteBuffer(repeating: 0x61, count: 1024), promise: nil)
            pair.server.flush()
            let readsBefore = pair.serverReads.reads
            pair.server.read()
            #expect(pair.serverReads.reads == readsBefore + 1, "read held back")
        }
        #expect(pair.serverRecorder.tlsErrors.isEmpty)
        #expect(pair.server.isActive)
    }

    @Test("Too much plaintext written before the handshake ends the connection")
    func pendingWriteCap() throws {
        let pair = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(),
            maxBufferedCiphertext: 32 * 1024)
        defer { pair.finish() }
        let ok = pair.server.write(ByteBuffer(repeating: 1, count: 30 * 1024))
        let alsoOK = pair.server.write(ByteBuffer(repeating: 1, count: 4 * 1024))  // 30 KiB pending: under the cap
        let refused = pair.server.write(ByteBuffer(repeating: 1, count: 4 * 1024))  // 34 KiB pending: over
        #expect(throws: TLSError.self) { try refused.wait() }
        // The connection ends with it, and so do the writes before it: a later write must not
        // go out with a hole before it.
        #expect(throws: TLSError.self) { try ok.wait() }
        #expect(throws: TLSError.self) { try alsoOK.wait() }
        #expect(!pair.server.isActive)
        #expect(pair.serverObserver.backpressure == [.closed])
        let later = pair.server.write(ByteBuffer(repeating: 1, count: 10))
        #expect(throws: (any Error).self) { try later.wait() }
    }

    @Test("Small writes up to a flush are sealed as one record (RFC 8446 §5.1: one record per response, not per part)")
    func smallWritesShareARecord() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        let head = pair.server.write(ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"))
        let body = pair.server.write(ByteBuffer(string: "hello"))
        let empty = pair.server.write(ByteBuffer())
        #expect(try pair.server.readOutbound(as: ByteBuffer.self) == nil, "nothing is sealed before the flush")
        pair.server.flush()
        var records: [UInt8] = []
        var wire: [ByteBuffer] = []
        while let bytes = try pair.server.readOutbound(as: ByteBuffer.self) {
            wire.append(bytes)
            var view = bytes
            while view.readableBytes >= 5, let type = view.readInteger(as: UInt8.self) {
                view.moveReaderIndex(forwardBy: 2)
                let length = Int(view.readInteger(as: UInt16.self) ?? 0)
                view.moveReaderIndex(forwardBy: min(length, view.readableBytes))
                records.append(type)
            }
        }
        #expect(records == [23], "one application_data record")
        for bytes in wire { try pair.client.writeInbound(bytes) }
        try head.wait(); try body.wait(); try empty.wait()
        #expect(pair.clientRecorder.text == "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
    }

    @Test("Held writes go out before close_notify when the connection is closed without a flush")
    func heldWritesPrecedeCloseNotify() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        _ = pair.server.write(ByteBuffer(string: "last words"))
        pair.server.close(promise: nil)
        try pair.pump()
        #expect(pair.clientRecorder.text == "last words")
    }

    @Test("One write far larger than the cap is accepted whole (a 1 MiB tool result)")
    func largeSingleWrite() throws {
        let pair = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(),
            maxBufferedCiphertext: 64 * 1024)
        defer { pair.finish() }
        try pair.handshake()
        let big = pair.server.write(ByteBuffer(repeating: 0x62, count: 1 << 20))
        pair.server.flush()
        try big.wait()
        #expect(pair.server.isActive)
    }

    @Test("An empty write after one over the cap is not refused, and completes only after it")
    func emptyWriteAfterLargeWrite() throws {
        let pair = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(),
            maxBufferedCiphertext: 64 * 1024)
        defer { pair.finish() }
        try pair.handshake()
        // An HTTP response: a body far over the cap, then its end (no bytes, a promise).
        let body = pair.server.write(ByteBuffer(repeating: 0x62, count: 256 * 1024))
        let end = pair.server.write(ByteBuffer())
        let order = Mutex<[String]>([])
        body.whenComplete { _ in order.withLock { $0.append("body") } }
        end.whenComplete { _ in order.withLock { $0.append("end") } }
        pair.server.flush()
        try end.wait()
        #expect(order.withLock { $0 } == ["body", "end"])
        #expect(pair.serverRecorder.tlsErrors.isEmpty)
        #expect(pair.server.isActive)
    }

    @Test("Wrong host name: the client refuses the server certificate (RFC 6125 §6)")
    func wrongHostname() throws {
        let pair = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(),
            serverName: "example.com")
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.clientRecorder.tlsErrors.map(\.kind) == [.handshakeFailed])
        #expect(pair.clientRecorder.tlsErrors.first?.reason.contains("hostname mismatch") == true)
        #expect(pair.clientObserver.all == [.peerCertRejected])
        #expect(!pair.client.isActive)
        #expect(!pair.serverObserver.all.contains(.ok))
    }

    @Test("IP literal as server name is checked against the IP SANs")
    func ipServerName() throws {
        let ok = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(), serverName: "127.0.0.1")
        defer { ok.finish() }
        try ok.handshake()
        #expect(ok.clientObserver.all == [.ok])
        #expect(ok.serverHandler.requestedServerName == nil, "no SNI for an IP literal (RFC 6066 §3)")
        let bad = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(), serverName: "10.1.2.3")
        defer { bad.finish() }
        try bad.handshake()
        #expect(bad.clientObserver.all == [.peerCertRejected])
    }

    /// RFC 9525 §6.3 (and RFC 6125 before it): a client does not fall back to the subject's
    /// common name. OpenSSL does, when a certificate has no DNS name at all, unless told not to.
    @Test("a server certificate naming the host only in its common name is refused")
    func commonNameIsNotAHostName() throws {
        let dir = fixtures.directory
        let authority = CertificateAuthority(
            key: try Fixtures.loadKey(dir + "/" + DevCertificates.caKeyFileName), certificate: try Fixtures.loadCertificate(fixtures.ca))
        let leaf = try authority.issue(commonName: "cn-only.test", subjectAltNames: nil, extendedKeyUsage: "serverAuth", validityDays: 2)
        try DevCertificates.writePEM(certificate: leaf.certificate, to: dir + "/cn-only.pem")
        try DevCertificates.writePEM(privateKey: leaf.key, to: dir + "/cn-only-key.pem")
        let server = try TLSContext.server(TLSServerSettings(certificateChainFile: dir + "/cn-only.pem", privateKeyFile: dir + "/cn-only-key.pem"))
        let pair = try Pair(serverContext: server, clientContext: fixtures.clientContext(), serverName: "cn-only.test")
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.clientObserver.all == [.peerCertRejected])
        #expect(pair.clientRecorder.tlsErrors.first?.reason.contains("hostname mismatch") == true)
    }

    @Test("A server whose chain does not lead to the client's CA is refused")
    func unknownCA() throws {
        let pair = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(ca: fixtures.otherCA))
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.clientObserver.all == [.peerCertRejected])
        #expect(pair.clientRecorder.tlsErrors.first?.reason.contains("certificate verify failed") == true)
        // The server hears the client's unknown_ca alert: the client refused us, not the
        // other way round (this was counted as a rejected client certificate).
        #expect(pair.serverObserver.all == [.peerAlert])
    }

    @Test("mTLS required: no client certificate is refused, a CA-issued one is accepted")
    func mutualTLS() throws {
        let refused = try Pair(
            serverContext: fixtures.serverContext(clientAuth: .required), clientContext: fixtures.clientContext())
        defer { refused.finish() }
        try refused.handshake()
        #expect(refused.serverObserver.all == [.clientCertRejected])
        #expect(!refused.server.isActive)

        let accepted = try Pair(
            serverContext: fixtures.serverContext(clientAuth: .required),
            clientContext: fixtures.clientContext(identity: true))
        defer { accepted.finish() }
        try accepted.handshake()
        #expect(accepted.serverObserver.all == [.ok])
        // What a certificate-bound token is checked against (RFC 8705 §3.1): the SHA-256 of
        // the certificate's DER, here computed from the PEM file, not through X509_digest.
        #expect(accepted.serverHandler.peerCertificateSHA256 == (try Self.sha256OfPEMCertificate(fixtures.clientChain)))
        #expect(accepted.clientHandler.peerCertificateSHA256 == nil, "server role only")
    }

    @Test("mTLS optional: a client without a certificate is accepted, with no certificate thumbprint")
    func mutualTLSOptional() throws {
        let pair = try Pair(
            serverContext: fixtures.serverContext(clientAuth: .optional), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverObserver.all == [.ok])
        #expect(pair.serverHandler.peerCertificateSHA256 == nil)
    }

    /// SHA-256 over the DER inside the first PEM block of `path`.
    static func sha256OfPEMCertificate(_ path: String) throws -> [UInt8] {
        let pem = try String(contentsOfFile: path, encoding: .utf8)
        let body = pem.components(separatedBy: "-----")[2].filter { !$0.isWhitespace }
        let der = [UInt8](try #require(Data(base64Encoded: body)))
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        #expect(EVP_Digest(der, der.count, &digest, &length, EVP_sha256(), nil) == 1 && length == 32)
        return digest
    }

    @Test("A write after our close_notify fails with writeAfterClose")
    func writeAfterCloseNotify() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        _ = pair.server.close(mode: .output)
        let write = pair.server.writeAndFlush(ByteBuffer(string: "late"))
        #expect(throws: TLSError(kind: .writeAfterClose, reason: "close_notify already sent")) { try write.wait() }
    }

    @Test("One inbound read larger than the cap is fine when it decrypts (the cap is on what is left)")
    func largeInboundRead() throws {
        let pair = try Pair(
            serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext(),
            maxBufferedCiphertext: 32 * 1024)
        defer { pair.finish() }
        try pair.handshake()
        let payload = String(repeating: "x", count: 48 * 1024)
        try pair.client.writeAndFlush(ByteBuffer(string: payload)).wait()
        var all = ByteBuffer()
        while var piece = try pair.client.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&piece) }
        #expect(all.readableBytes > 32 * 1024)
        try pair.server.writeInbound(all)
        #expect(pair.serverRecorder.errors.isEmpty)
        #expect(pair.serverRecorder.received.readableBytes == payload.utf8.count)
    }

    @Test("A record header announcing more than 2^14+256 bytes is refused (RFC 8446 §5.2 record_overflow)")
    func oversizedRecord() throws {
        let pair = try Pair(serverContext: fixtures.serverContext(), clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        try pair.server.writeInbound(ByteBuffer(bytes: [0x17, 0x03, 0x03, 0xFF, 0xFF] + Array(repeating: 0, count: 64)))
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.protocolError])
        #expect(!pair.server.isActive)
    }
}
