// libFuzzer target: the OpenSSL server handler (Sources/TLS) fed arbitrary bytes as the
// ciphertext a client sends, in memory (NIO EmbeddedChannel, no sockets).
//
// Input layout: byte 0 picks how the rest is delivered, byte 1 where it is split; the rest
// is the ciphertext.
//   bits 0-1  number of channelRead calls the bytes are split into (0 and 1: one, 2, 3)
//   bit 2     end with a TCP FIN (`ChannelEvent.inputClosed`) before closing
//   bit 3     first complete a real handshake with our client role, then feed the bytes
//             (the post-handshake record layer: alerts, close_notify, bad MACs)
//   bit 4     let the handshake deadline fire before closing
//   bit 5     the channel allows remote half-closure (a close_notify then only closes input)
//   bit 6     in handshake mode: the bytes are application data the client encrypts and
//             sends (the decrypting read path with arbitrary plaintext sizes) instead of raw
//             ciphertext
//
// Properties beyond "no crash, no ASan report, no hang": the handler never delivers
// plaintext before a handshake completed (raw mode cannot complete one: the fuzzer cannot
// forge a client Finished), and in plaintext mode the server receives exactly the bytes the
// client sent.
//
// Certificates are made once per process in a fresh temporary directory (nothing secret is
// committed). `FUZZ_TLS_DUMP_SEEDS=<dir>` writes seed inputs made with our client role
// (a real ClientHello, a post-handshake close_notify, ...) and exits.

import Foundation
import NIOCore
import NIOEmbedded
import TLS

#if canImport(Glibc)
import Glibc
#endif

/// Fails the run with a message (libFuzzer records the input); `precondition` would lose
/// the message under -O.
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("tls_server property violated: \(message())") }
}

struct Contexts: @unchecked Sendable {
    let server: TLSContext
    let client: TLSContext

    static let shared: Contexts = {
        var template = Array("/tmp/axinova-fuzz-tls-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        do {
            let (chain, key, ca) = try DevCertificates.ensure(directory: dir)
            let server = try TLSContext.server(TLSServerSettings(
                certificateChainFile: chain, privateKeyFile: key, profile: .intermediate, clientAuth: .off, clientCAFile: nil))
            let client = try TLSContext.client(caFile: ca, clientCertificate: nil)
            // The contexts hold what they need; the files are not read again.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                unlink(dir + "/" + name)
            }
            rmdir(dir)
            return Contexts(server: server, client: client)
        } catch {
            fatalError("tls_server: certificates: \(error)")
        }
    }()
}

/// Collects what the TLS handler passes up: plaintext and events.
final class Sink: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var plaintext: [UInt8] = []
    var handshakeCompleted = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        plaintext += buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSEvent { handshakeCompleted = true }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Errors are the expected answer to hostile bytes; the handler closes the channel.
    }
}

/// Moves ciphertext between two channels until both are quiet. Bounded.
func pump(_ a: EmbeddedChannel, _ b: EmbeddedChannel) {
    for _ in 0..<50 {
        var moved = false
        for (from, to) in [(a, b), (b, a)] {
            while let bytes = try? from.readOutbound(as: ByteBuffer.self) {
                moved = true
                if to.isActive { _ = try? to.writeInbound(bytes) }
            }
        }
        if !moved { return }
    }
}

func runOne(_ input: [UInt8]) {
    guard input.count >= 2 else { return }
    let mode = input[0], splitSeed = Int(input[1])
    let payload = Array(input[2...])
    let chunks = Int(mode & 0b11) == 0 ? 1 : Int(mode & 0b11)
    let finFirst = mode & 0b100 != 0
    let handshakeFirst = mode & 0b1000 != 0
    let timeout = mode & 0b1_0000 != 0
    let halfClosure = mode & 0b10_0000 != 0
    let plaintextMode = handshakeFirst && mode & 0b100_0000 != 0

    let contexts = Contexts.shared
    let sink = Sink()
    let server = EmbeddedChannel()
    var client: EmbeddedChannel?
    defer {
        _ = try? server.finish(acceptAlreadyClosed: true)
        _ = try? client?.finish(acceptAlreadyClosed: true)
    }
    do {
        try server.pipeline.syncOperations.addHandlers([
            TLSHandler(context: contexts.server, role: .server, handshakeTimeout: .seconds(10)), sink,
        ])
        if halfClosure { try server.syncOptions?.setOption(.allowRemoteHalfClosure, value: true) }
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    } catch {
        fatalError("tls_server: channel setup: \(error)")
    }

    if handshakeFirst {
        let peer = EmbeddedChannel()
        client = peer
        do {
            try peer.pipeline.syncOperations.addHandler(
                TLSHandler(context: contexts.client, role: .client(serverName: "localhost")))
            try peer.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        } catch {
            fatalError("tls_server: client setup: \(error)")
        }
        pump(peer, server)
        check(sink.handshakeCompleted, "a back-to-back handshake with our client did not complete")
        if plaintextMode {
            if !payload.isEmpty { peer.writeAndFlush(ByteBuffer(bytes: payload), promise: nil) }
            pump(peer, server)
            check(sink.plaintext == payload,
                  "server received \(sink.plaintext.count) plaintext bytes, the client sent \(payload.count)")
            return
        }
    }

    // Split points derived from byte 1, so the fuzzer can explore record boundaries.
    var cuts: [Int] = []
    if chunks > 1, !payload.isEmpty {
        let first = (splitSeed * payload.count) / 256
        cuts.append(first)
        if chunks > 2 { cuts.append(first + (payload.count - first) / 2) }
    }
    var start = 0
    for end in cuts + [payload.count] where server.isActive {
        _ = try? server.writeInbound(ByteBuffer(bytes: payload[start..<max(start, end)]))
        start = max(start, end)
        while (try? server.readOutbound(as: ByteBuffer.self)) != nil {}
    }
    if !handshakeFirst {
        check(!sink.handshakeCompleted, "a handshake completed from \(payload.count) raw bytes")
        check(sink.plaintext.isEmpty, "plaintext delivered without a handshake")
    }
    if finFirst, server.isActive {
        server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }
    if timeout {
        server.embeddedEventLoop.advanceTime(by: .seconds(11))
    }
    if server.isActive { _ = try? server.close().wait() }
    while (try? server.readOutbound(as: ByteBuffer.self)) != nil {}
}

/// Writes seed inputs (see the header) into a directory.
func dumpSeeds(to dir: String) {
    let contexts = Contexts.shared
    func clientFlight() -> [UInt8] {
        let peer = EmbeddedChannel()
        defer { _ = try? peer.finish(acceptAlreadyClosed: true) }
        try! peer.pipeline.syncOperations.addHandler(TLSHandler(context: contexts.client, role: .client(serverName: "localhost")))
        try! peer.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        var bytes: [UInt8] = []
        while var buffer = try! peer.readOutbound(as: ByteBuffer.self) { bytes += buffer.readBytes(length: buffer.readableBytes)! }
        return bytes
    }
    let hello = clientFlight()
    let seeds: [(String, [UInt8])] = [
        ("client-hello", [0x01, 0x00] + hello),
        ("client-hello-split3-fin", [0x07, 0x30] + hello),
        ("client-hello-timeout", [0x12, 0x80] + hello),
        ("http-to-tls-port", [0x01, 0x00] + Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
        // An SSLv2-style (RFC 6101 appendix E) hello header.
        ("sslv2-hello", [0x01, 0x00, 0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10] + Array(repeating: 0x41, count: 37)),
        // After a handshake: a plaintext alert (not allowed in TLS 1.3), a garbage record.
        ("post-handshake-alert", [0x09, 0x00, 0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00]),
        ("post-handshake-garbage-fin", [0x0e, 0x40, 0x17, 0x03, 0x03, 0x00, 0x20] + Array(repeating: 0xab, count: 32)),
        ("post-handshake-plaintext", [0x49, 0x00] + Array("POST /mcp HTTP/1.1\r\n".utf8)),
        ("post-handshake-plaintext-halfclose", [0x69, 0x00] + Array(repeating: 0x5a, count: 300)),
    ]
    for (name, bytes) in seeds {
        _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(bytes))
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    _ = Contexts.shared
    if let dir = ProcessInfo.processInfo.environment["FUZZ_TLS_DUMP_SEEDS"] {
        dumpSeeds(to: dir)
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runOne(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

// SwiftPM links an executable target with `--defsym main=tls_server_main` (its entry point
// renamed so tests could link the module) when it does not know libFuzzer is in the build
// (we pass -sanitize=fuzzer,address through -Xswiftc, see fuzz/run.sh). This is that entry
// point: it hands control to libFuzzer's driver, as libFuzzer's own main would.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("tls_server_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv) { data, size in
        fuzzTestOneInput(data ?? UnsafePointer(bitPattern: 1)!, size)
    }
}
