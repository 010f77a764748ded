import Foundation
import NIOCore
import Testing
@testable import TLS

/// Not a test: the server half of bench/tls/bench.sh, run only when TLS_BENCH_DIR is set.
/// Serves TLS (echo) on 127.0.0.1 with `TLSHandler`, writes "PORT PID" to $TLS_BENCH_DIR/server.port,
/// and exits when $TLS_BENCH_DIR/stop appears (or after 300 s at most).
@Suite("TLS benchmark server")
struct BenchmarkServer {
    static let directory = ProcessInfo.processInfo.environment["TLS_BENCH_DIR"]

    @Test("bench server (bench/tls/bench.sh)", .enabled(if: directory != nil, "only under bench/tls/bench.sh"))
    func serve() throws {
        let dir = try #require(Self.directory)
        let context = try TLSContext.server(TLSServerSettings(
            certificateChainFile: dir + "/server.pem", privateKeyFile: dir + "/server-key.pem"))
        let server = try LiveEchoServer(context: context)
        defer { server.shutdown() }
        try "\(server.port) \(getpid())\n".write(toFile: dir + "/server.port", atomically: true, encoding: .utf8)
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline, !FileManager.default.fileExists(atPath: dir + "/stop") {
            usleep(100_000)
        }
        let ok = server.observer.all.filter { $0 == .ok }.count
        try "\(ok)\n".write(toFile: dir + "/server.handshakes", atomically: true, encoding: .utf8)
    }
}
