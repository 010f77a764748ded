import Foundation
import Synchronization
import NIOCore
import Testing
@testable import TLS

#if canImport(Glibc)
import Glibc
#endif

/// Live loopback tests: our server role on a real socket against the real `openssl s_client`.
/// Skipped when the openssl CLI is absent.
@Suite("Live TLS against openssl s_client", .serialized, .enabled(if: OpenSSLCLI.available, "openssl CLI not installed"))
struct LiveOpenSSLTests {
    let fixtures = Fixtures.shared

    func sClient(_ server: LiveEchoServer, _ extra: [String], input: String = "hello BYE\n", holdStdin: Double = 0) async throws -> OpenSSLCLI.Output {
        let arguments = ["s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost",
                         "-CAfile", fixtures.ca, "-verify_return_error", "-brief"] + extra
        return try await offPool { try OpenSSLCLI.run(arguments, input: input, holdStdin: holdStdin) }
    }

    @Test("TLS 1.3 succeeds, the chain verifies against the CA, data echoes")
    func tls13() async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext())
        defer { server.shutdown() }
        let out = try await sClient(server, ["-tls1_3", "-ign_eof"])
        #expect(out.stderr.contains("Protocol version: TLSv1.3"), "\(out.all)")
        #expect(out.stderr.contains("Verification: OK"), "\(out.all)")
        #expect(out.stdout.contains("hello BYE"), "\(out.all)")
        #expect(await server.handshakes(atLeast: 1) == [.ok])
    }

    @Test("TLS 1.2 succeeds with an ECDHE AEAD suite")
    func tls12() async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext())
        defer { server.shutdown() }
        let out = try await sClient(server, ["-tls1_2", "-ign_eof"])
        #expect(out.stderr.contains("Protocol version: TLSv1.2"), "\(out.all)")
        #expect(out.stderr.contains("ECDHE-ECDSA-"), "\(out.all)")
        #expect(out.stdout.contains("hello BYE"), "\(out.all)")
        #expect(await server.handshakes(atLeast: 1) == [.ok])
    }

    @Test("TLS 1.0 and 1.1 are refused by the server (RFC 8996)", arguments: ["-tls1", "-tls1_1"])
    func oldVersionsRefused(flag: String) async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext())
        defer { server.shutdown() }
        // SECLEVEL=0 so that the client really offers the old version.
        let out = try await sClient(server, [flag, "-cipher", "DEFAULT@SECLEVEL=0"])
        #expect(out.status != 0)
        #expect(!out.stdout.contains("hello BYE"))
        #expect(await server.handshakes(atLeast: 1) == [.unsupportedVersion], "\(out.all)")
    }

    @Test("The modern profile refuses TLS 1.2")
    func modernRefusesTLS12() async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext(profile: .modern))
        defer { server.shutdown() }
        let out = try await sClient(server, ["-tls1_2"])
        #expect(out.status != 0)
        #expect(await server.handshakes(atLeast: 1) == [.unsupportedVersion], "\(out.all)")
    }

    @Test("A client offering only weak ciphers is refused", arguments: ["AES128-SHA", "DES-CBC3-SHA:RC4-SHA:AES256-SHA"])
    func weakCiphersRefused(ciphers: String) async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext())
        defer { server.shutdown() }
        let out = try await sClient(server, ["-tls1_2", "-cipher", ciphers + "@SECLEVEL=0"])
        #expect(out.status != 0)
        #expect(await server.handshakes(atLeast: 1) == [.noSharedCipher], "\(out.all)")
    }

    @Test("ALPN offering only h2 is refused with no_application_protocol (RFC 7301 §3.2)")
    func alpnH2Refused() async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext())
        defer { server.shutdown() }
        let out = try await sClient(server, ["-alpn", "h2"])
        #expect(out.status != 0)
        #expect(out.all.contains("no application protocol"), "\(out.all)")
    }

    @Test("Client-initiated renegotiation (TLS 1.2 'R') is refused (SSL_OP_NO_RENEGOTIATION)")
    func renegotiationRefused() async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext())
        defer { server.shutdown() }
        let arguments = ["s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost", "-CAfile", fixtures.ca, "-tls1_2"]
        let out = try await offPool { try OpenSSLCLI.run(arguments, input: "R\n", holdStdin: 2) }
        #expect(out.all.contains("RENEGOTIATING"), "\(out.all)")
        #expect(out.all.contains("no renegotiation"), "\(out.all)")
    }

    /// RFC 8446 §4.6.3 KeyUpdates from the real `s_client` (`k`: update, `K`: update and ask
    /// for ours): counted one each, whichever; the echo goes on within the cap, and one more
    /// closes the connection.
    @Test("KeyUpdates from s_client: within the cap the echo goes on; one more closes the connection")
    func keyUpdatesFromSClient() async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext(), maxKeyUpdates: 3)
        defer { server.shutdown() }
        // Each line once s_client has shaken hands and sent the KeyUpdates before it.
        let afterKeyUpdates: @Sendable (String, Int) -> Bool = { out, sent in
            out.contains("Verify return code") && out.components(separatedBy: "KEYUPDATE").count - 1 >= sent
        }
        let arguments = ["s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost", "-CAfile", fixtures.ca, "-tls1_3"]
        let within = try await offPool {
            try OpenSSLCLI.run(arguments, lines: ["k", "K", "k", "hello after three"], ready: afterKeyUpdates, holdStdin: 1)
        }
        #expect(within.all.components(separatedBy: "KEYUPDATE").count - 1 == 3, "\(within.all)")
        #expect(within.stdout.contains("hello after three"), "\(within.all)")
        #expect(!within.all.contains("unexpected eof"), "\(within.all)")
        #expect(server.observer.keyUpdatesClosed == 0)
        let over = try await offPool {
            try OpenSSLCLI.run(arguments, lines: ["k", "K", "k", "k", "hello after four"], ready: afterKeyUpdates, holdStdin: 1)
        }
        // Closed without an alert: s_client reports an unexpected EOF, or a reset or broken
        // pipe when it was writing the last line meanwhile; the server's count says why.
        #expect(!over.stdout.contains("hello after four"), "\(over.all)")
        #expect(server.observer.keyUpdatesClosed == 1)
    }

    /// RFC 5077 §3.4: a server may resume by ticket without any state. With `tls.session_tickets`
    /// on, OpenSSL's server cache used to stay on too: a TLS 1.2 client without the ticket
    /// extension resumed by session id, its session kept for two hours in a cache of 20,480.
    @Test("With session tickets on, a TLS 1.2 session resumes by its ticket, never by its session id (no server-side session cache)")
    func ticketsWithoutASessionCache() async throws {
        let context = try TLSContext.server(TLSServerSettings(
            certificateChainFile: fixtures.chain, privateKeyFile: fixtures.key, sessionTickets: true))
        let server = try LiveEchoServer(context: context)
        defer { server.shutdown() }
        let session = fixtures.directory + "/session-\(UUID().uuidString).pem"
        defer { unlink(session) }
        func connect(_ extra: [String]) async throws -> String {
            let arguments = ["s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost",
                             "-CAfile", fixtures.ca, "-tls1_2"] + extra
            return try await offPool { try OpenSSLCLI.run(arguments, input: "").all }
        }
        for (flags, resumes) in [([String](), true), (["-no_ticket"], false)] {
            unlink(session)
            let first = try await connect(flags + ["-sess_out", session])
            #expect(first.contains("New, TLSv1.2"), "\(first)")
            guard resumes else {
                // No ticket and no cache: the server gives an empty session id, which s_client
                // does not save (with the cache on it did, and the next handshake resumed).
                #expect(!FileManager.default.fileExists(atPath: session), "\(first)")
                continue
            }
            // The ticket lives as long as its keys, an hour (OpenSSL's default is two).
            #expect(first.contains("lifetime hint: 3600 (seconds)"), "\(first)")
            let second = try await connect(flags + ["-sess_in", session])
            #expect(second.contains("Reused, TLSv1.2"), "\(flags): \(second)")
        }
    }

    @Test("A client that connects and sends nothing is closed at the handshake deadline")
    func idleClientClosed() async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext(), handshakeTimeout: .seconds(1))
        defer { server.shutdown() }
        let port = server.port
        // The connect and the blocking read (up to the server's close) off the test's thread.
        let (connected, n, elapsed) = try await offPool { () -> (Int32, Int, Double) in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return (-1, -1, 0) }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            var limit = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            let start = Date()
            var byte: UInt8 = 0
            let n = recv(fd, &byte, 1, 0)
            return (connected, n, Date().timeIntervalSince(start))
        }
        #expect(connected == 0)
        #expect(n == 0, "expected EOF from the server")
        #expect(elapsed > 0.8 && elapsed < 3, "closed after \(elapsed) s")
        #expect(await server.handshakes(atLeast: 1) == [.timeout])
    }

    @Test("mTLS required: s_client without a certificate is refused, with one it is accepted")
    func mutualTLS() async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext(clientAuth: .required))
        defer { server.shutdown() }
        let refused = try await sClient(server, ["-tls1_3", "-ign_eof"])
        #expect(!refused.stdout.contains("hello BYE"))
        let accepted = try await sClient(server, ["-tls1_3", "-ign_eof", "-cert", fixtures.clientChain, "-key", fixtures.clientKey])
        #expect(accepted.stdout.contains("hello BYE"), "\(accepted.all)")
        #expect(await server.handshakes(atLeast: 2) == [.clientCertRejected, .ok])
    }

    @Test("mTLS: a client Certificate message over 32 KiB is refused before its chain is parsed and kept; the same certificate with a short chain is accepted")
    func oversizedClientChainRefused() async throws {
        let server = try LiveEchoServer(context: fixtures.serverContext(clientAuth: .required))
        defer { server.shutdown() }
        let ca = try String(contentsOfFile: fixtures.ca, encoding: .utf8)
        let padding = fixtures.directory + "/padding-\(UUID().uuidString).pem"
        defer { unlink(padding) }
        func connect(copies: Int) async throws -> OpenSSLCLI.Output {
            try String(repeating: ca, count: copies).write(toFile: padding, atomically: true, encoding: .utf8)
            return try await sClient(server, ["-tls1_3", "-ign_eof", "-cert", fixtures.clientChain, "-key", fixtures.clientKey,
                                        "-cert_chain", padding])
        }
        let short = try await connect(copies: 1)
        #expect(short.stdout.contains("hello BYE"), "\(short.all)")
        let caBytes = try #require(ca.data(using: .utf8)).count
        let long = try await connect(copies: 2 * TLSContext.maxClientCertificateBytes / (caBytes * 3 / 4) + 1)
        #expect(!long.stdout.contains("hello BYE"))
        #expect(await server.handshakes(atLeast: 2) == [.ok, .protocolError], "\(long.all)")
    }

    @Test("Reload under load: connections made while the context is swapped all succeed")
    func reloadUnderLoad() async throws {
        let reloader = try TLSContextReloader(
            settings: TLSServerSettings(certificateChainFile: fixtures.chain, privateKeyFile: fixtures.key))
        let server = try LiveEchoServer(contextProvider: { reloader.current })
        defer { server.shutdown() }
        let stop = Mutex(false)
        let reloads = Mutex(0)
        let thread = Thread {
            for _ in 0..<10_000 where !stop.withLock({ $0 }) {
                if case .success = reloader.reload() { reloads.withLock { $0 += 1 } }
                usleep(2_000)
            }
        }
        thread.start()
        var failures = 0
        let attempts = 20
        for _ in 0..<attempts {
            let out = try await sClient(server, ["-ign_eof"])
            if !out.stdout.contains("hello BYE") { failures += 1 }
        }
        stop.withLock { $0 = true }
        #expect(failures == 0)
        #expect(reloads.withLock { $0 } > attempts, "the context must really have been swapped during the run")
        #expect(await server.handshakes(atLeast: attempts) == Array(repeating: .ok, count: attempts))
    }

    @Test("certs/make-dev-certs.sh makes files our server loads and s_client verifies")
    func devCertsScript() async throws {
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("certs/make-dev-certs.sh").path
        let dir = fixtures.directory + "/script-\(UUID().uuidString)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, dir]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let status = try await offPool {
            process.waitUntilExit()
            return process.terminationStatus
        }
        #expect(status == 0)
        let context = try TLSContext.server(TLSServerSettings(
            certificateChainFile: dir + "/server.pem", privateKeyFile: dir + "/server-key.pem"))
        let server = try LiveEchoServer(context: context)
        defer { server.shutdown() }
        let arguments = ["s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost",
                         "-CAfile", dir + "/ca.pem", "-verify_return_error", "-brief", "-ign_eof"]
        let out = try await offPool { try OpenSSLCLI.run(arguments, input: "hello BYE\n") }
        #expect(out.stderr.contains("Verification: OK"), "\(out.all)")
        #expect(out.stdout.contains("hello BYE"))
    }
}
