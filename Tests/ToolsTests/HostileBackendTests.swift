#if canImport(Glibc)
import Glibc
#endif
import MCPCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing
@testable import Tools

/// A request NIO refuses to send (a header value with a control character; a base path
/// with such characters is refused at start, `BackendURLTests`) fails as our request not
/// sent, not as the backend's malformed response.
@Suite struct UnsendableRequestTests {
    @Test("a request NIO will not send is reported as ours, and nothing reaches the backend")
    func unsendableRequestIsOurs() async throws {
        let fake = try await FakeBackend.start { _ in .json("{}") }
        let client = BackendHTTPClient()
        defer { client.shutdown() }
        let url = try BackendURL(parsing: fake.url)
        do {
            _ = try await client.execute(BackendRequest(method: .GET, url: url, path: "/api/health", headers: [("X-Bad", "a\u{1}b")], timeout: .seconds(5)))
            Issue.record("sent a header with a control character")
        } catch {
            #expect(error.kind == .internalError, "\(error.message)")
            #expect(error.message.contains("was not sent"), "\(error.message)")
        }
        #expect(fake.requests.isEmpty)
        await fake.stop()
    }
}

/// Backends that misbehave: every failure is a ToolError (an `isError` result) that says
/// what happened (tools-catalogue.md "For every tool": status, timeout, TLS, unreachable),
/// and nothing waits forever or grows without bound.
@Suite struct HostileBackendTests {
    func grafana(_ fake: FakeBackend, timeout: Duration = .seconds(5), maxResultBytes: Int = 1024,
                 client: BackendHTTPClient = testClient) -> [ToolDefinition] {
        tools(CatalogueSettings(grafana: BackendSettings(url: fake.url, token: "t"), httpTimeout: timeout,
                                maxResultBytes: maxResultBytes), client: client)
    }

    @Test func serverErrorCarriesStatusAndBodyStart() async throws {
        let fake = try await FakeBackend.start { _ in .text("database is locked\nmore", status: 500) }
        let error = await call(grafana(fake), "grafana_get_health").error
        #expect(error?.kind == .backendStatus)
        #expect(error?.message == "grafana returned HTTP 500 Internal Server Error: database is locked more")
        await fake.stop()
    }

    @Test func hangingBackendTimesOut() async throws {
        let fake = try await FakeBackend.start { _ in .hang }
        let clock = ContinuousClock()
        let start = clock.now
        let error = await call(grafana(fake, timeout: .milliseconds(300)), "grafana_get_health").error
        let elapsed = clock.now - start
        #expect(error?.kind == .timeout)
        // The configured deadline is the one that fired (the client's 5 s default would say so
        // here); no upper bound on the wall clock, which a loaded CI host stretches (seen: 3 s+).
        #expect(error?.message.contains("did not answer within \(Duration.milliseconds(300))") == true)
        #expect(elapsed >= .milliseconds(250))
        await fake.stop()
    }

    /// A backend whose host drops our SYNs (here: a loopback listener whose accept queue is
    /// full) leaves the connect pending; a call cancelled meanwhile (its tool deadline
    /// passed) gives up at once instead of holding its answer for the whole connect timeout.
    @Test func cancelledWhileConnecting() async throws {
        let listener = try FullListener()
        defer { listener.close() }
        let client = BackendHTTPClient(configuration: .init(connectTimeout: .seconds(20)))
        let url = try BackendURL(parsing: "http://127.0.0.1:\(listener.port)")
        let clock = ContinuousClock()
        let start = clock.now
        let call = Task { () -> ToolError? in
            do {
                _ = try await client.execute(BackendRequest(method: .GET, url: url, path: "/", timeout: .seconds(20)))
                return nil
            } catch let error as ToolError {
                return error
            } catch {
                return ToolError(.internalError, "\(error)")
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        call.cancel()
        let error = await call.value
        #expect(error?.kind == .timeout)
        // Before its connect started, on a loaded host: it then starts none.
        #expect(error.map { $0.message.contains("cancelled while connecting") || $0.message.contains("cancelled before connecting") } == true)
        #expect(clock.now - start < .seconds(5))
        client.shutdown()
    }

    /// The connect a cancelled call leaves behind runs on (up to its timeout, holding a
    /// socket): it keeps its request's place under `tools.max_backend_connections` until it
    /// ends, so calls cancelled over and over cannot start connects past the cap. Before, the
    /// place was released with the call.
    @Test func anAbandonedConnectKeepsItsPlaceUntilItEnds() async throws {
        let listener = try FullListener()
        defer { listener.close() }
        // A connect timeout well above the time a loaded host takes from the connect's start to
        // the check after the cancel (2 s ran out first under load).
        let client = BackendHTTPClient(configuration: .init(connectTimeout: .seconds(8), maxConnectionsPerBackend: 1))
        let url = try BackendURL(parsing: "http://127.0.0.1:\(listener.port)")
        let key = ConnectionPool.Key(isTLS: false, host: "127.0.0.1", port: listener.port, caFile: nil)
        // The cancel must come while the connect runs: on a loaded host the task may not have
        // started it yet (it then starts none, and holds nothing), so that case is tried again.
        var abandoned = false
        for _ in 0..<5 where !abandoned {
            let call = Task { () -> String in
                do {
                    _ = try await client.execute(BackendRequest(method: .GET, url: url, path: "/", timeout: .seconds(20)))
                    return "answered"
                } catch {
                    return "\(error)"
                }
            }
            for _ in 0..<300 where client.slots.counts(key).active == 0 { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(300))  // connecting
            call.cancel()
            let outcome = await call.value
            abandoned = outcome.contains("cancelled while connecting")
            if !abandoned { #expect(outcome.contains("cancelled before connecting") && client.slots.counts(key) == (0, 0), "\(outcome)") }
        }
        try #require(abandoned)
        #expect(client.slots.counts(key).active == 1, "the connect still runs: its place is held")
        // It ends at its timeout, and its place with it.
        for _ in 0..<2000 where client.slots.counts(key).active == 1 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(client.slots.counts(key) == (0, 0))
        client.shutdown()
    }

    /// A call cancelled after its connection is made but before its request leaves sends
    /// nothing: a writing tool (here a PUT, as Vikunja creates) must not act once its caller
    /// has given up. The exchange runs on a connection made beforehand, in a task cancelled
    /// in between, which no public call can arrange deterministically.
    @Test func callCancelledBeforeSendingSendsNothing() async throws {
        let fake = try await FakeBackend.start { _ in .text("created") }
        let client = BackendHTTPClient()
        let url = try BackendURL(parsing: fake.url)
        let error = await Task { () -> ToolError? in
            let connection: ConnectionPool.Connection
            do throws(ToolError) {
                connection = try await client.connect(url, caFile: nil, peer: "fake", timeout: .seconds(5), deadline: .now() + .seconds(5),
                                                      place: SlotRelease {})
            } catch {
                return error
            }
            withUnsafeCurrentTask { $0?.cancel() }
            let head = HTTPRequestHead(version: .http1_1, method: .PUT, uri: "/tasks", headers: ["Host": "fake", "Content-Length": "0"])
            let key = ConnectionPool.Key(isTLS: false, host: url.host, port: url.port, caFile: nil)
            do throws(ConnectionRunError) {
                _ = try await client.run(head, nil, on: connection, key: key, deadline: .now() + .seconds(5), timeout: .seconds(5)) {
                    HTTPConnectionHandler.Exchange(promise: $0, maxBytes: 1024, peer: "fake", usesTLS: false)
                }
                return nil
            } catch {
                if case .tool(let error) = error { return error }
                return ToolError(.internalError, "\(error)")
            }
        }.value
        #expect(error?.kind == .timeout, "\(String(describing: error))")
        #expect(error?.message.contains("cancelled") == true, "\(String(describing: error))")
        // Had the request left, it was written before the close and reaches the fake at once.
        try await Task.sleep(for: .milliseconds(300))
        #expect(fake.requests.isEmpty)
        client.shutdown()
        await fake.stop()
    }

    /// The deadline covers the whole response, not the gap between bytes: a backend that
    /// trickles its answer (a byte every 50 ms, 5 s in all) cannot hold a call open. Were it
    /// a per-gap deadline, it would never fire and the call would end after 5 s otherwise; no
    /// bound on the wall clock, which a loaded CI host stretches (seen: 3.5 s).
    @Test func tricklingBackendTimesOut() async throws {
        let fake = try await FakeBackend.start { _ in .trickle(Array(repeating: UInt8(ascii: " "), count: 100), every: .milliseconds(50)) }
        let error = await call(grafana(fake, timeout: .milliseconds(400)), "grafana_get_health").error
        #expect(error?.kind == .timeout, "\(String(describing: error))")
        #expect(error?.message.contains("did not answer within \(Duration.milliseconds(400))") == true, "\(String(describing: error))")
        await fake.stop()
    }

    @Test func oversizedBodyIsRefusedByLengthAndWhileStreaming() async throws {
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: 10_000)
        let declared = try await FakeBackend.start { _ in .respond(200, [], big) }
        #expect(await call(grafana(declared), "grafana_get_health").error?.kind == .tooLarge)
        await declared.stop()
        // No Content-Length: the body runs until close; the cap must still hold.
        let streamed = try await FakeBackend.start { _ in .raw(Array("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".utf8) + big) }
        let error = await call(grafana(streamed), "grafana_get_health").error
        #expect(error?.kind == .tooLarge)
        #expect(error?.message.contains("4096-byte cap") == true)
        await streamed.stop()
    }

    /// RFC 9110 §8.6: a 304 may state the length of the resource it does not send.
    @Test func notModifiedWithALargeLengthIsNoTooLargeBody() async throws {
        let fake = try await FakeBackend.start { _ in .raw(Array("HTTP/1.1 304 Not Modified\r\nContent-Length: 100000\r\n\r\n".utf8)) }
        let response = try await testClient.execute(BackendRequest(method: .GET, url: try BackendURL(parsing: fake.url), path: "/",
                                                                   timeout: .seconds(5), maxResponseBytes: 4096))
        #expect(response.status == 304 && response.body.isEmpty)
        await fake.stop()
    }

    /// RFC 9112 section 7.1: chunked bodies count against the cap as they arrive.
    @Test func chunkedBodyOverTheCapIsRefused() async throws {
        let chunk = "1000\r\n" + String(repeating: "b", count: 4096) + "\r\n"
        let fake = try await FakeBackend.start { _ in
            .raw(Array(("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk + "0\r\n\r\n").utf8))
        }
        #expect(await call(grafana(fake), "grafana_get_health").error?.kind == .tooLarge)
        await fake.stop()
    }

    /// What the decoder parses and drops makes no body, so the body cap never sees it: a
    /// backend sending interim responses (or chunk extensions) without end kept an event loop
    /// parsing until the deadline. The bytes of one response are capped, framing included.
    @Test func endlessInterimResponsesAreRefused() async throws {
        let interim = String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: 10_000)
        let fake = try await FakeBackend.start { _ in
            .raw(Array((interim + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").utf8))
        }
        let error = await call(grafana(fake), "grafana_get_health").error
        #expect(error?.kind == .tooLarge, "\(String(describing: error))")
        #expect(error?.message.contains("bytes for one response, head and framing included") == true)
        await fake.stop()
        let extensions = try await FakeBackend.start { _ in
            .raw(Array(("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;" + String(repeating: "x", count: 200_000) + "\r\n{}\r\n0\r\n\r\n").utf8))
        }
        #expect(await call(grafana(extensions), "grafana_get_health").error?.kind == .tooLarge)
        await extensions.stop()
    }

    /// RFC 9110 §15.2.2: after a 101 the connection is no longer HTTP. Taken for an interim
    /// response, the call waited for a final answer the decoder would never read, until its
    /// deadline; it fails at once as a bad response.
    @Test func anUnaskedSwitchingProtocolsFailsAtOnce() async throws {
        let fake = try await FakeBackend.start { _ in
            .raw(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".utf8))
        }
        let started = ContinuousClock.now
        let error = await call(grafana(fake), "grafana_get_health").error
        #expect(error?.kind == .badResponse, "\(String(describing: error))")
        #expect(error?.message.contains("switched protocols (101)") == true)
        #expect(ContinuousClock.now - started < .seconds(20), "not at the call's deadline")
        await fake.stop()
    }

    @Test func hugeResponseHeadersAreRefused() async throws {
        let header = "X-Junk: " + String(repeating: "j", count: 200_000) + "\r\n"
        let fake = try await FakeBackend.start { _ in .raw(Array(("HTTP/1.1 200 OK\r\n" + header + "Content-Length: 2\r\n\r\n{}").utf8)) }
        let error = await call(grafana(fake), "grafana_get_health").error
        #expect(error?.kind == .badResponse, "\(error?.message ?? "no error")")
        await fake.stop()
    }

    @Test func largeResultUnderTheCapIsTruncatedWithANote() async throws {
        let items = (0..<200).map { "{\"uid\":\"d\($0)\"}" }.joined(separator: ",")
        let fake = try await FakeBackend.start { _ in .json("[\(items)]") }
        let result = await call(grafana(fake), "grafana_list_dashboards").result
        #expect(result?.content.count == 2)
        #expect(result?.limitReached == .resultBytes)
        if case .text(let note)? = result?.content.last {
            #expect(note.hasPrefix("[truncated: the result is"))
        } else {
            Issue.record("no truncation note")
        }
        await fake.stop()
    }

    @Test func malformedJSONIsBadResponse() async throws {
        let fake = try await FakeBackend.start { _ in .json("{\"dashboards\": [1, 2,") }
        let error = await call(grafana(fake), "grafana_list_dashboards").error
        #expect(error?.kind == .badResponse)
        #expect(error?.message.hasPrefix("grafana returned malformed JSON") == true)
        await fake.stop()
    }

    @Test func nonHTTPAnswerIsBadResponse() async throws {
        let fake = try await FakeBackend.start { _ in .raw(Array("SSH-2.0-OpenSSH_9.2\r\n\r\n".utf8)) }
        #expect(await call(grafana(fake), "grafana_get_health").error?.kind == .badResponse)
        await fake.stop()
    }

    /// A connection closed in the middle of a response is lost, not malformed: a search
    /// skips a malformed page but stops at a backend that drops connections.
    @Test func truncatedResponseIsUnreachable() async throws {
        for raw in ["HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\"",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n"] {
            let fake = try await FakeBackend.start { _ in .raw(Array(raw.utf8)) }
            let error = await call(grafana(fake), "grafana_get_health").error
            #expect(error?.kind == .unreachable, "\(raw): \(String(describing: error))")
            #expect(error?.message.contains("closed the connection before the response was complete") == true)
            await fake.stop()
        }
    }

    /// A backend (or a proxy that reflects request headers) echoing our credential in a
    /// successful answer: the tool result carries `[redacted]`, never the credential, whole or
    /// without its scheme. Until 2026-12-05 only error text was cleared.
    @Test func credentialsEchoedInASuccessfulAnswerAreRedacted() async throws {
        let token = "glsa_" + String(repeating: "q", count: 40)
        let fake = try await FakeBackend.start { _ in
            .json(#"{"database":"ok","echo":{"authorization":"Bearer \#(token)","raw":"\#(token)"}}"#)
        }
        let echoing = tools(CatalogueSettings(grafana: BackendSettings(url: fake.url, token: token), maxResultBytes: 4096), client: testClient)
        let outcome = await call(echoing, "grafana_get_health")
        await fake.stop()
        #expect(outcome.error == nil)
        #expect(!outcome.text.contains(token))
        #expect(outcome.json?["echo"]?["raw"] == "[redacted]")
        #expect(outcome.json?["echo"]?["authorization"] == "[redacted]")  // the header value whole
        #expect(outcome.json?["database"] == "ok")

        // A short password is not looked for in answers: it would match ordinary data.
        let basic = try await FakeBackend.start { _ in .json(#"{"version":"12345","user":"admin"}"#) }
        let withPassword = tools(CatalogueSettings(grafana: BackendSettings(url: basic.url, username: "admin", password: "1234"),
                                                   maxResultBytes: 4096), client: testClient)
        let plain = await call(withPassword, "grafana_get_health")
        await basic.stop()
        #expect(plain.json?["version"] == "12345")
        #expect(plain.json?["user"] == "admin")
    }

    @Test("the credential search finds it at either end and ignores partial matches")
    func credentialSearch() {
        let needle = Array("secret".utf8)
        #expect(Backend.contains(Array("secret".utf8), needle))
        #expect(Backend.contains(Array("xxsecret".utf8), needle))
        #expect(Backend.contains(Array("secretxx".utf8), needle))
        #expect(Backend.contains(Array("ssecsecretsecre".utf8), needle))
        #expect(!Backend.contains(Array("secre".utf8), needle))
        #expect(!Backend.contains(Array("xsecrexsecre".utf8), needle))
        #expect(!Backend.contains([], needle))
    }

    /// No redirects: a backend cannot send our token elsewhere.
    @Test func redirectsAreNotFollowed() async throws {
        let fake = try await FakeBackend.start { _ in .respond(302, [("Location", "http://evil.example/")], []) }
        let error = await call(grafana(fake), "grafana_get_health").error
        #expect(error?.kind == .backendStatus)
        #expect(error?.message.contains("redirects are not followed") == true)
        #expect(fake.requests.count == 1)
        await fake.stop()
    }

    @Test func connectionRefusedIsUnreachable() async throws {
        let fake = try await FakeBackend.start { _ in .hang }
        await fake.stop()  // the port is now closed
        let error = await call(grafana(fake), "grafana_get_health").error
        #expect(error?.kind == .unreachable)
        #expect(error?.message.contains("cannot connect to http://127.0.0.1:\(fake.port)") == true)
    }

    @Test func httpsWithoutTheTLSClientFailsClosed() async throws {
        let tools = tools(CatalogueSettings(grafana: BackendSettings(url: "https://127.0.0.1:1")))
        let error = await call(tools, "grafana_get_health").error
        #expect(error?.kind == .tls)
    }

    @Test func tlsProviderFailureIsATLSError() async throws {
        let fake = try await FakeBackend.start { _ in .hang }
        struct Untrusted: Error {}
        let client = BackendHTTPClient(tlsHandlerProvider: { _, _ in throw Untrusted() })
        let tools = tools(CatalogueSettings(grafana: BackendSettings(url: "https://127.0.0.1:\(fake.port)")), client: client)
        let error = await call(tools, "grafana_get_health").error
        #expect(error?.kind == .tls, "\(String(describing: error))")
        await fake.stop()
    }

    /// The provider gets the host to verify and the backend's own CA file (falling back to
    /// the catalogue-wide one).
    @Test func tlsProviderGetsServerNameAndCAFile() async throws {
        struct Stop: Error {}
        let seen = Mutex<[String]>([])
        let client = BackendHTTPClient(tlsHandlerProvider: { host, ca in
            seen.withLock { $0.append("\(host) \(ca ?? "-")") }
            throw Stop()
        })
        let fake = try await FakeBackend.start { _ in .hang }
        let tools = tools(CatalogueSettings(
            grafana: BackendSettings(url: "https://localhost:\(fake.port)", caFile: "/etc/grafana-ca.pem"),
            prometheus: BackendSettings(url: "https://127.0.0.1:\(fake.port)"), caFile: "/etc/ca.pem"), client: client)
        #expect(await call(tools, "grafana_get_health").error?.kind == .tls)
        #expect(await call(tools, "prometheus_build_info").error?.kind == .tls)
        #expect(seen.withLock { $0 }.contains("localhost /etc/grafana-ca.pem"))
        #expect(seen.withLock { $0 }.contains("127.0.0.1 /etc/ca.pem"))
        await fake.stop()
    }

    /// The reason reaches every MCP client, so it names the backend and never repeats
    /// the configured text (which may carry user info or an API key).
    @Test(arguments: ["grafana:3000", "http://u:secret@h", "https://admin:secret@grafana:3000", "http://prom/?api_key=secret"])
    func badConfiguredURLIsReportedByEveryCall(_ url: String) async throws {
        let tools = tools(CatalogueSettings(grafana: BackendSettings(url: url)))
        let message = await call(tools, "grafana_get_health").error?.message ?? ""
        #expect(message.hasPrefix("grafana: invalid backend URL"))
        #expect(!message.contains("secret") && !message.contains(url))
        #expect(!ToolCatalogue.validate(CatalogueSettings(grafana: BackendSettings(url: url))).contains { $0.contains("secret") })
    }

    /// ToolContext: cancellation is task cancellation; the backend call must stop.
    @Test func cancellationStopsTheBackendCall() async throws {
        let fake = try await FakeBackend.start { _ in .hang }
        let tools = grafana(fake, timeout: .seconds(30))
        let clock = ContinuousClock()
        let start = clock.now
        let task = Task { await call(tools, "grafana_get_health") }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let outcome = await task.value
        // Seen once in a full run on a loaded host: kind unreachable; the message says which path.
        #expect(outcome.error?.kind == .timeout, "\(String(describing: outcome.error))")
        #expect(outcome.error?.message.contains("cancelled") == true, "\(String(describing: outcome.error))")
        #expect(clock.now - start < .seconds(5))
        await fake.stop()
    }
}

/// A loopback listener that never accepts, with its accept queue filled: the kernel drops
/// further SYNs, so a new connect neither succeeds nor fails until its timeout.
final class FullListener {
    let fd: Int32
    let port: Int
    private let fillers: [Int32]

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 0) == 0 else { throw IOError(errnoCode: errno, reason: "listen") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        var fillers: [Int32] = []
        for _ in 0..<4 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, length) } }
            fillers.append(filler)
        }
        usleep(200_000)  // the fillers' handshakes complete and fill the queue
        // Proof that it is full: a probe's connect must stay pending for 300 ms. One that gets
        // through (a loaded host: a filler's handshake had not completed) fills it further.
        for _ in 0..<16 {
            let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, length) } }
            fillers.append(probe)
            var poll = pollfd(fd: probe, events: Int16(POLLOUT), revents: 0)
            if Glibc.poll(&poll, 1, 300) == 0 { break }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.fillers = fillers
    }

    func close() {
        for filler in fillers { Glibc.close(filler) }
        Glibc.close(fd)
    }
}
