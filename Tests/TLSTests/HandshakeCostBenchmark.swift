import Foundation
import NIOCore
import NIOEmbedded
import Testing
@testable import TLS

#if canImport(Glibc)
import Glibc
#endif

/// Not a test: the in-process half of bench/tls/bench.sh (HANDLER=1), run only when
/// TLS_HANDSHAKE_BENCH=N is set. N back-to-back TLS 1.3 handshakes, server role against client
/// role over `EmbeddedChannel`s; only the server side is timed (thread CPU time): channel setup
/// (`TLSHandler` added, channel active: `SSL_new`, deadline), every ClientHello/Finished delivery
/// and the close. Compared with bench/tls/handshake_floor.c (OpenSSL alone, same settings) it
/// gives what our handler, BIO and connection add per handshake. Writes the median (µs) to
/// $TLS_HANDSHAKE_BENCH_OUT if set.
@Suite("TLS handshake cost benchmark")
struct HandshakeCostBenchmark {
    static let count = ProcessInfo.processInfo.environment["TLS_HANDSHAKE_BENCH"].flatMap(Int.init)

    @Test("server-side CPU per handshake (bench/tls/bench.sh)", .enabled(if: count != nil, "only under bench/tls/bench.sh"))
    func measure() throws {
        let n = min(max(try #require(Self.count), 10), 100_000)
        let fixtures = Fixtures.shared
        let serverContext = try fixtures.serverContext()
        let clientContext = try fixtures.clientContext()
        var samples: [Double] = []
        samples.reserveCapacity(n)
        for _ in 0..<n {
            let client = EmbeddedChannel()
            try client.pipeline.syncOperations.addHandler(TLSHandler(context: clientContext, role: .client(serverName: "localhost")))
            var spent = 0.0
            var t0 = Self.cpuMicroseconds()
            let server = EmbeddedChannel()
            try server.pipeline.syncOperations.addHandler(TLSHandler(context: serverContext, role: .server))
            try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            spent += Self.cpuMicroseconds() - t0
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
            var settled = false
            for _ in 0..<10 {  // TLS 1.3 settles in 2 flights
                var moved = false
                while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                    moved = true
                    t0 = Self.cpuMicroseconds()
                    try server.writeInbound(bytes)
                    spent += Self.cpuMicroseconds() - t0
                }
                t0 = Self.cpuMicroseconds()
                var flights: [ByteBuffer] = []
                while let bytes = try server.readOutbound(as: ByteBuffer.self) { flights.append(bytes) }
                spent += Self.cpuMicroseconds() - t0
                for bytes in flights {
                    moved = true
                    try client.writeInbound(bytes)
                }
                if !moved {
                    settled = true
                    break
                }
            }
            #expect(settled)
            t0 = Self.cpuMicroseconds()
            _ = try? server.finish(acceptAlreadyClosed: true)
            spent += Self.cpuMicroseconds() - t0
            _ = try? client.finish(acceptAlreadyClosed: true)
            samples.append(spent)
        }
        samples.sort()
        let median = samples[samples.count / 2]
        print("handshake cost: server side median \(Int(median.rounded())) µs over \(n) handshakes")
        if let out = ProcessInfo.processInfo.environment["TLS_HANDSHAKE_BENCH_OUT"] {
            try "\(Int(median.rounded()))\n".write(toFile: out, atomically: true, encoding: .utf8)
        }
    }

    static func cpuMicroseconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) * 1e6 + Double(t.tv_nsec) / 1e3
    }
}
