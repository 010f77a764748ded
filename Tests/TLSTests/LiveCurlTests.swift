import Foundation
import Testing
@testable import TLS

enum CurlCLI {
    static let path = ["/usr/bin/curl", "/usr/local/bin/curl"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Live loopback tests with curl (OpenSSL-based on Debian) against our server role.
@Suite("Live TLS against curl", .serialized, .enabled(if: CurlCLI.path != nil, "curl not installed"))
struct LiveCurlTests {
    let fixtures = Fixtures.shared

    func run(_ arguments: [String]) async throws -> (status: Int32, out: String) {
        try await offPool { try Self.runBlocking(arguments) }
    }

    private static func runBlocking(_ arguments: [String]) throws -> (status: Int32, out: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CurlCLI.path!)
        process.arguments = ["--silent", "--show-error", "--max-time", "10"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    @Test("curl over TLS 1.3 and TLS 1.2 verifies the chain and gets a response", arguments: ["--tlsv1.3", "--tls-max 1.2"])
    func versions(flag: String) async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext())
        defer { server.shutdown() }
        let out = try await run(flag.split(separator: " ").map(String.init) + [
            "--cacert", fixtures.ca, "--http1.1", "https://localhost:\(server.port)/",
        ])
        #expect(out.status == 0, "\(out.out)")
        #expect(out.out == "ok\n")
    }

    @Test("curl capped at TLS 1.1 is refused (RFC 8996)")
    func oldRefused() async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext())
        defer { server.shutdown() }
        let out = try await run(["--tlsv1.0", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0",
                           "--cacert", fixtures.ca, "https://localhost:\(server.port)/"])
        #expect(out.status != 0)
        #expect(await server.handshakes(atLeast: 1) == [.unsupportedVersion], "\(out.out)")
    }

    @Test("curl without the CA refuses our dev certificate (the check is real)")
    func untrusted() async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext())
        defer { server.shutdown() }
        let out = try await run(["--cacert", fixtures.otherCA, "https://localhost:\(server.port)/"])
        #expect(out.status == 60, "\(out.out)")  // CURLE_PEER_FAILED_VERIFICATION
        // curl's unknown_ca alert is counted as the peer's refusal, not as a client certificate we rejected.
        #expect(await server.handshakes(atLeast: 1) == [.peerAlert])
    }
}
