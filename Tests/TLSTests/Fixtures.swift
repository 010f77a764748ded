import COpenSSL
import NIOCore
import NIOEmbedded
import Synchronization
@testable import TLS

#if canImport(Glibc)
import Glibc
#endif

/// Certificates made once per test process in a fresh temporary directory.
struct Fixtures: Sendable {
    let directory: String
    let chain: String
    let key: String
    let ca: String
    /// A client certificate issued by the same CA (mTLS tests).
    let clientChain: String
    let clientKey: String
    /// A second, unrelated CA (unknown-CA tests).
    let otherCA: String

    static let shared: Fixtures = {
        var template = Array("/tmp/axinova-tls-tests-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        do {
            let (chain, key, ca) = try DevCertificates.ensure(directory: dir)
            // Re-read the CA key to issue a client certificate from the same CA.
            let caKey = try loadKey(dir + "/" + DevCertificates.caKeyFileName)
            let caCert = try loadCertificate(ca)
            let authority = CertificateAuthority(key: caKey, certificate: caCert)
            let client = try authority.issue(
                commonName: "test-client", subjectAltNames: nil, extendedKeyUsage: "clientAuth", validityDays: 2)
            try DevCertificates.writePEM(certificate: client.certificate, to: dir + "/client.pem")
            try DevCertificates.writePEM(privateKey: client.key, to: dir + "/client-key.pem")
            let other = try CertificateAuthority.make(commonName: "unrelated CA", validityDays: 2)
            try DevCertificates.writePEM(certificate: other.certificate, to: dir + "/other-ca.pem")
            return Fixtures(
                directory: dir, chain: chain, key: key, ca: ca,
                clientChain: dir + "/client.pem", clientKey: dir + "/client-key.pem",
                otherCA: dir + "/other-ca.pem")
        } catch {
            fatalError("test certificates: \(error)")
        }
    }()

    static func loadKey(_ path: String) throws -> PrivateKey {
        let bio = BIO_new_file(path, "r")!
        defer { BIO_free_all(bio) }
        return PrivateKey(pointer: PEM_read_bio_PrivateKey(bio, nil, nil, nil)!)
    }

    static func loadCertificate(_ path: String) throws -> X509Object {
        let bio = BIO_new_file(path, "r")!
        defer { BIO_free_all(bio) }
        return X509Object(pointer: PEM_read_bio_X509(bio, nil, nil, nil)!)
    }

    func serverContext(
        profile: TLSProfile = .intermediate, clientAuth: ClientAuthMode = .off
    ) throws -> TLSContext {
        try TLSContext.server(TLSServerSettings(
            certificateChainFile: chain, privateKeyFile: key, profile: profile,
            clientAuth: clientAuth, clientCAFile: clientAuth == .off ? nil : ca))
    }

    func clientContext(ca: String? = nil, identity: Bool = false) throws -> TLSContext {
        try TLSContext.client(
            caFile: ca ?? self.ca, clientCertificate: identity ? (clientChain, clientKey) : nil)
    }
}

/// Records handshake results reported to the observer.
final class RecordingObserver: TLSObserver {
    private let results = Mutex<[TLSHandshakeResult]>([])
    private let backpressureEvents = Mutex<[TLSBackpressureEvent]>([])
    func handshakeFinished(result: TLSHandshakeResult, duration: Duration) {
        results.withLock { $0.append(result) }
    }
    func backpressure(_ event: TLSBackpressureEvent) {
        backpressureEvents.withLock { $0.append(event) }
    }
    var all: [TLSHandshakeResult] { results.withLock { $0 } }
    var backpressure: [TLSBackpressureEvent] { backpressureEvents.withLock { $0 } }
    private let keyUpdateClosures = Mutex(0)
    func keyUpdatesExceeded() { keyUpdateClosures.withLock { $0 += 1 } }
    var keyUpdatesClosed: Int { keyUpdateClosures.withLock { $0 } }
}

/// Sits above the TLS handler: keeps plaintext, events and errors (so EmbeddedChannel does not throw).
final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var received = ByteBuffer()
    var events: [TLSEvent] = []
    var inputClosed = false
    var inputClosedEvents = 0
    var errors: [any Error] = []
    /// The capacities of the plaintext buffers passed up, added together: what a layer that
    /// kept a slice of each would hold.
    var capacities = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        capacities += bytes.capacity
        received.writeBuffer(&bytes)
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSEvent { events.append(event) }
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            inputClosedEvents += 1
        }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { errors.append(error) }

    var tlsErrors: [TLSError] { errors.compactMap { $0 as? TLSError } }
    var text: String { String(buffer: received) }
}

/// Sits below the TLS handler: counts `read()` calls that reached the "socket".
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

/// Sits at the bottom: EmbeddedChannel closes fully on `close(mode: .output)`, so this stands in
/// for a socket's TCP half-close (records it and succeeds).
final class OutputCloser: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var outputClosed = false
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output {
            outputClosed = true
            promise?.succeed(())
        } else {
            context.close(mode: mode, promise: promise)
        }
    }
}

/// Sits at the bottom: once armed, a flush closes the channel, as NIO does when a write to a
/// socket the peer has reset fails (EPIPE, ECONNRESET) in the middle of a handler's call.
final class CloseOnFlush: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var armed = false
    func flush(context: ChannelHandlerContext) {
        guard armed else { return context.flush() }
        armed = false
        context.close(promise: nil)
    }
}

/// A server and a client channel joined back to back in memory.
final class Pair {
    let server: EmbeddedChannel
    let client: EmbeddedChannel
    let serverRecorder = Recorder()
    let clientRecorder = Recorder()
    let serverReads = ReadCounter()
    let serverOutput = OutputCloser()
    let clientOutput = OutputCloser()
    let serverObserver = RecordingObserver()
    let clientObserver = RecordingObserver()
    let serverHandler: TLSHandler
    let clientHandler: TLSHandler

    init(
        serverContext: TLSContext, clientContext: TLSContext, serverName: String? = "localhost",
        handshakeTimeout: TimeAmount = .seconds(10), maxBufferedCiphertext: Int = 256 * 1024,
        maxKeyUpdates: Int? = nil, connect: Bool = true
    ) throws {
        serverHandler = TLSHandler(
            context: serverContext, role: .server, handshakeTimeout: handshakeTimeout,
            maxBufferedCiphertext: maxBufferedCiphertext, maxKeyUpdates: maxKeyUpdates, observer: serverObserver)
        clientHandler = TLSHandler(
            context: clientContext, role: .client(serverName: serverName), observer: clientObserver)
        server = EmbeddedChannel()
        client = EmbeddedChannel()
        try server.pipeline.syncOperations.addHandlers([serverOutput, serverReads, serverHandler, serverRecorder])
        try client.pipeline.syncOperations.addHandlers([clientOutput, clientHandler, clientRecorder])
        if connect { try self.connect() }
    }

    /// Makes both channels active: the client sends its ClientHello.
    func connect() throws {
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
    }

    /// Moves ciphertext both ways until neither side has anything to send. Bounded.
    /// `chunk` splits every buffer into pieces of at most that many bytes.
    func pump(chunk: Int = .max) throws {
        for _ in 0..<200 {
            let a = try move(from: client, to: server, chunk: chunk)
            let b = try move(from: server, to: client, chunk: chunk)
            if !a && !b { return }
        }
        Issue.recordUnbounded()
    }

    private func move(from source: EmbeddedChannel, to target: EmbeddedChannel, chunk: Int) throws -> Bool {
        var moved = false
        while let bytes = try source.readOutbound(as: ByteBuffer.self) {
            moved = true
            guard target.isActive else { continue }
            var rest = bytes
            while rest.readableBytes > 0, target.isActive {
                let piece = rest.readSlice(length: min(chunk, rest.readableBytes))!
                try target.writeInbound(piece)
            }
        }
        return moved
    }

    func handshake(chunk: Int = .max) throws {
        try pump(chunk: chunk)
    }

    func finish() {
        _ = try? server.finish(acceptAlreadyClosed: true)
        _ = try? client.finish(acceptAlreadyClosed: true)
    }
}

import Testing
extension Issue {
    static func recordUnbounded() { Issue.record("pump did not settle within 200 rounds") }
}
