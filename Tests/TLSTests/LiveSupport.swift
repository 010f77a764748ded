import Foundation
import NIOCore
import NIOPosix
import Synchronization
@testable import TLS

/// A tiny TLS echo server on 127.0.0.1 (random port) built from `TLSHandler`, for live tests
/// with the real `openssl s_client`. A line containing "BYE" makes it close (with close_notify).
final class LiveEchoServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    let observer = RecordingObserver()
    var port: Int { channel.localAddress!.port! }

    convenience init(context: TLSContext, handshakeTimeout: TimeAmount = .seconds(10), maxKeyUpdates: Int? = nil) throws {
        try self.init(contextProvider: { context }, handshakeTimeout: handshakeTimeout, maxKeyUpdates: maxKeyUpdates)
    }

    /// `contextProvider` is asked once per accepted connection (as the real server asks its reloader).
    init(contextProvider: @escaping @Sendable () -> TLSContext, handshakeTimeout: TimeAmount = .seconds(10),
         maxKeyUpdates: Int? = nil) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let observer = self.observer
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandlers([
                        TLSHandler(context: contextProvider(), role: .server, handshakeTimeout: handshakeTimeout,
                                   maxKeyUpdates: maxKeyUpdates, observer: observer),
                        EchoHandler(),
                    ])
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    func shutdown() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// Waits (bounded) until the observer has seen `count` handshakes.
    func handshakes(atLeast count: Int, within seconds: Double = 5) async -> [TLSHandshakeResult] {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while observer.all.count < count && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        return observer.all
    }
}

/// Runs blocking work (a child process and its pipes, a socket read) on a thread of its own.
/// A test runs on Swift's cooperative pool, two threads on a 2-core host: the live suites
/// blocked one for ten seconds, and with any other test blocking the second every async test
/// stalled meanwhile (a SilverBullet search with a 4 s deadline found one page of two).
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if String(buffer: bytes).hasPrefix("GET ") {
            // Just enough HTTP/1.1 for curl.
            let body = "ok\n"
            let response = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response)), promise: nil)
            context.close(promise: nil)
            return
        }
        let bye = String(buffer: bytes).contains("BYE")
        context.writeAndFlush(data, promise: nil)
        if bye { context.close(promise: nil) }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Runs the `openssl` CLI with a time limit. `input` is written to stdin; stdin is closed
/// after `holdStdin` seconds.
struct OpenSSLCLI {
    /// One output stream's bytes so far.
    final class Collected: Sendable {
        let data = Mutex(Data())
    }

    static let path = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static var available: Bool { path != nil }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + "\n" + stderr }
    }

    /// `lines`: written one at a time after `input`, each once `ready(stdout so far, its
    /// index)` holds (polled for up to 10 s): s_client takes a command such as `k` only at the
    /// start of what one read of its input returns, and reads its input only once its
    /// handshake is done, so each line waits for the output of the one before.
    static func run(_ arguments: [String], input: String = "", lines: [String] = [],
                    ready: @escaping (String, Int) -> Bool = { _, _ in true },
                    holdStdin: Double = 0, timeout: Double = 15) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path!)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        // Both outputs are read as they come, each on a thread of its own, so that the lines
        // can wait on them (s_client says KEYUPDATE on stderr).
        let collected = [Collected(), Collected()]
        let drained = DispatchSemaphore(value: 0)
        for (pipe, buffer) in zip([stdout, stderr], collected) {
            Thread {
                while case let data = pipe.fileHandleForReading.availableData, !data.isEmpty {
                    buffer.data.withLock { $0.append(data) }
                }
                drained.signal()
            }.start()
        }
        func text(_ index: Int) -> String { String(decoding: collected[index].data.withLock { $0 }, as: UTF8.self) }
        try process.run()
        // s_client may have exited already (a refused handshake): the pipe is then broken, and
        // FileHandle's non-throwing write would trap.
        if !input.isEmpty { _ = try? stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8)) }
        for (index, line) in lines.enumerated() {
            let until = Date().addingTimeInterval(10)
            while !ready(text(0) + "\n" + text(1), index), Date() < until, process.isRunning {
                usleep(20_000)
            }
            // s_client may have exited (the server closed): the pipe is then broken.
            guard (try? stdin.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))) != nil else { break }
        }
        if holdStdin > 0 { usleep(useconds_t(holdStdin * 1_000_000)) }
        try? stdin.fileHandleForWriting.close()
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            _ = done.wait(timeout: .now() + 2)
        }
        _ = drained.wait(timeout: .now() + 5)
        _ = drained.wait(timeout: .now() + 5)
        return Output(status: process.terminationStatus, stdout: text(0), stderr: text(1))
    }
}
