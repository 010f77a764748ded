import Foundation
import MCPCore
import NIOHTTP1
import Testing
import Synchronization
import TLS
@testable import Tools

/// Test PKI made with the openssl command line: a CA, a server certificate for
/// `localhost` only (no IP SAN), and an unrelated CA.
final class TestPKI {
    let directory: URL
    var caFile: String { directory.appendingPathComponent("ca.pem").path }
    var otherCAFile: String { directory.appendingPathComponent("other-ca.pem").path }
    var certFile: String { directory.appendingPathComponent("server.pem").path }
    var keyFile: String { directory.appendingPathComponent("server.key").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tools-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n".write(
            to: directory.appendingPathComponent("ext.cnf"), atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        try run(["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Tools Test CA"])
        try run(["req", "-x509"] + ec + ["-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=Other CA"])
        try run(["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"])
        try run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"])
    }

    private func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}

/// Outbound TLS on our OpenSSL client role (issue 6: "a backend on https with our test CA
/// works; with a wrong host name or an untrusted CA it fails with a clear result; with
/// skip_verify it works and warns").
@Suite(.serialized) struct OutboundTLSTests {
    func withHTTPSBackend(_ body: (TestPKI, FakeBackend) async throws -> Void) async throws {
        let pki = try TestPKI()
        let server = try TLSContext.server(TLSServerSettings(certificateChainFile: pki.certFile, privateKeyFile: pki.keyFile))
        let fake = try await FakeBackend.start(mode: .keepAlive, tls: server) { _ in .json(#"{"database":"ok"}"#) }
        try await body(pki, fake)
        await fake.stop()
    }

    func health(_ url: String, caFile: String?, skipVerify: Bool = false) async -> Outcome {
        let tls = BackendTLS(skipVerify: skipVerify)
        let client = BackendHTTPClient(tlsHandlerProvider: tls.provider)
        defer { client.shutdown() }
        let tools = tools(CatalogueSettings(grafana: BackendSettings(url: url, caFile: caFile), httpTimeout: .seconds(5)), client: client)
        return await call(tools, "grafana_get_health")
    }

    /// Many servers close an idle kept-alive TLS connection with a FIN and no close_notify. A
    /// GET that meets that close on a pooled connection is sent again on a fresh one, as after
    /// a plain close or a reset; it was reported as a failed TLS handshake.
    @Test func getOnAPooledConnectionClosedWithoutCloseNotifyIsRetried() async throws {
        let pki = try TestPKI()
        let server = try TLSContext.server(TLSServerSettings(certificateChainFile: pki.certFile, privateKeyFile: pki.keyFile))
        let dropped = Mutex(false)
        let fake = try await FakeBackend.start(mode: .keepAlive, tls: server) { request in
            let drop = request.path == "/drop" && dropped.withLock { done in defer { done = true }; return !done }
            return drop ? .closeWithoutNotify : .json("{}")
        }
        let client = BackendHTTPClient(tlsHandlerProvider: BackendTLS().provider)
        defer { client.shutdown() }
        let url = try BackendURL(parsing: "https://localhost:\(fake.port)")
        _ = try await client.execute(BackendRequest(method: .GET, url: url, path: "/x", caFile: pki.caFile))
        let response = try await client.execute(BackendRequest(method: .GET, url: url, path: "/drop", caFile: pki.caFile))
        #expect(response.status == 200)
        let requests = fake.requests
        #expect(requests.map(\.path) == ["/x", "/drop", "/drop"])
        #expect(requests[1].connection == requests[0].connection)
        await fake.stop()
    }

    @Test func trustedCAAndMatchingHostWork() async throws {
        try await withHTTPSBackend { pki, fake in
            let outcome = await health("https://localhost:\(fake.port)", caFile: pki.caFile)
            #expect(outcome.error == nil, "\(String(describing: outcome.error))")
            #expect(outcome.result?.structuredContent?["database"] == "ok")
        }
    }

    /// RFC 6125: the certificate names `localhost` only; 127.0.0.1 is not in it.
    @Test func wrongHostNameFails() async throws {
        try await withHTTPSBackend { pki, fake in
            let error = await health("https://127.0.0.1:\(fake.port)", caFile: pki.caFile).error
            #expect(error?.kind == .tls, "\(error?.message ?? "nil")")
            #expect(error?.message.contains("IP address mismatch") == true)
        }
    }

    @Test func untrustedCAFails() async throws {
        try await withHTTPSBackend { pki, fake in
            let error = await health("https://localhost:\(fake.port)", caFile: pki.otherCAFile).error
            #expect(error?.kind == .tls, "\(error?.message ?? "nil")")
            #expect(error?.message.contains("unable to get local issuer certificate") == true)
        }
    }

    @Test func skipVerifyWorksAndWarns() async throws {
        try await withHTTPSBackend { pki, fake in
            #expect(await health("https://127.0.0.1:\(fake.port)", caFile: pki.otherCAFile, skipVerify: true).error == nil)
            #expect(BackendTLS(skipVerify: true).startupWarnings.count == 1)
            #expect(BackendTLS().startupWarnings.isEmpty)
        }
    }

    @Test func keepAliveOverTLSReusesTheConnection() async throws {
        try await withHTTPSBackend { pki, fake in
            let client = BackendHTTPClient(tlsHandlerProvider: BackendTLS().provider)
            let tools = tools(CatalogueSettings(grafana: BackendSettings(url: "https://localhost:\(fake.port)", caFile: pki.caFile)), client: client)
            for _ in 0..<3 { #expect(await call(tools, "grafana_get_health").error == nil) }
            #expect(Set(fake.requests.map(\.connection)).count == 1)
            client.shutdown()
        }
    }

    @Test func unreadableCAFileFailsAtPreload() {
        #expect(throws: TLSError.self) { try BackendTLS().preload(caFiles: ["/nonexistent/ca.pem"]) }
    }
}
