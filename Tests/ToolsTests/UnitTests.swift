import MCPCore
import Testing
@testable import Tools

@Suite struct BackendURLTests {
    @Test func parsesSchemesPortsAndBasePaths() throws {
        let a = try BackendURL(parsing: "https://grafana.example.com/grafana/")
        #expect(a.isTLS && a.host == "grafana.example.com" && a.port == 443 && a.basePath == "/grafana")
        #expect(a.hostHeader == "grafana.example.com")
        let b = try BackendURL(parsing: "http://127.0.0.1:9090")
        #expect(!b.isTLS && b.port == 9090 && b.basePath == "" && b.hostHeader == "127.0.0.1:9090")
        let c = try BackendURL(parsing: "http://[::1]:8080/x")
        #expect(c.host == "::1" && c.port == 8080 && c.hostHeader == "[::1]:8080")
    }

    /// The last four were taken, then refused on every call as a malformed backend response.
    @Test(arguments: ["ftp://x", "x:80", "http://", "http://u:p@host", "http://h:0", "http://h:99999", "http://h/?q=1", "http://[::1",
                      "http://gra fana", "http://grafana\u{1}/x", "http://grafana/my dash", "http://grafana/a\tb",
                      "http://grafana/graf{a}", "http://grafana/a|b", "http://grafana/a\\b", "http://grafana/\"x\""])
    func refusesBadURLs(_ text: String) {
        #expect(throws: ToolError.self) { try BackendURL(parsing: text) }
    }
}

/// A backend's error text goes into an `isError` result that a model reads.
@Suite struct BackendSnippetTests {
    @Test("control characters in a backend's error body are replaced, newlines and tabs flattened")
    func controlCharactersReplaced() {
        let text = Backend.snippet(Array("bad\u{1B}[31mred\u{0}\nnext\tcol".utf8))
        #expect(text == "bad\u{FFFD}[31mred\u{FFFD} next col")
    }

    /// A long answer (a Prometheus range of over a million values) is within the byte cap
    /// but over the parser's value cap: too large, counted as such, not "malformed".
    @Test("valid JSON over the parser's value cap is reported as too large, not as malformed")
    func tooManyValuesIsTooLarge() {
        let backend = Backend(name: "prometheus", settings: BackendSettings(url: "http://127.0.0.1:9"),
                              headers: [], client: BackendHTTPClient(), catalogue: CatalogueSettings(maxResultBytes: 4 << 20))
        let body = "[" + Array(repeating: "1", count: (1 << 20) + 1).joined(separator: ",") + "]"
        do {
            _ = try backend.parse(BackendResponse(status: 200, reason: "OK", headers: [], body: Array(body.utf8)))
            Issue.record("parsed more values than the cap")
        } catch {
            #expect(error.kind == .tooLarge, "\(error.message)")
        }
    }

    /// A page read once the call's time is up is not made: the read ends with what it has.
    /// But a call cancelled (by its client or its connection) is not turned into a partial
    /// answer: it fails, as any backend request of a cancelled call does.
    @Test("a page of a multi-page read: none once the call's time is up; a cancelled call fails instead")
    func pageAfterTheDeadlineOrCancelled() async {
        let backend = Backend(name: "vikunja", settings: BackendSettings(url: "http://127.0.0.1:9"),
                              headers: [], client: BackendHTTPClient(), catalogue: CatalogueSettings())
        var late = ToolContext(toolName: "vikunja_list_projects")
        late.setDeadline(.seconds(1), from: .now - .seconds(5))
        do {
            let page = try await backend.page("/api/v1/projects", context: late)
            #expect(page == nil)
        } catch {
            Issue.record("a page past the deadline failed: \(error)")
        }
        let cancelled = Task { () -> ToolError? in
            withUnsafeCurrentTask { $0?.cancel() }
            do {
                _ = try await backend.page("/api/v1/projects", context: late)
                return nil
            } catch let error as ToolError {
                return error
            } catch {
                return nil
            }
        }
        #expect(await cancelled.value?.kind == .timeout)
    }

    /// A hostile backend, or a proxy in front of it that reflects request headers in its
    /// error page, must not get our credential into a result the model reads.
    @Test("a backend's error text never carries the credential we sent it: whole, without its scheme, in the reason phrase, or across the cut")
    func credentialsRedacted() throws {
        let token = "glsa_" + String(repeating: "k", count: 60)
        let backend = Backend(name: "grafana", settings: BackendSettings(url: "http://127.0.0.1:9", token: token),
                              headers: [("Authorization", "Bearer \(token)")], client: BackendHTTPClient(), catalogue: CatalogueSettings())
        func status(_ reason: String, _ body: String) -> String {
            backend.statusError(BackendResponse(status: 400, reason: reason, headers: [], body: Array(body.utf8))).message
        }
        let echoed = [
            status("Bad \(token)", #"{"message":"bad header Authorization: Bearer \#(token)"}"#),
            status("Bad Request", "<html>Authorization: Bearer \(token) " + String(repeating: "x", count: 300)),
            // Two secrets, the second across the 200th byte once the first is replaced.
            status("Bad Request", String(repeating: "y", count: 150) + token + String(repeating: "z", count: 20) + token + "tail"),
        ]
        for message in echoed {
            #expect(!message.contains(token) && !message.contains("kkkkkkkkkk"), "\(message)")
            #expect(message.contains("[redacted]"), "\(message)")
        }
        do {
            _ = try backend.parse(BackendResponse(status: 200, reason: "OK", headers: [], body: Array("{\"echo\": Bearer \(token)".utf8)))
            Issue.record("parsed malformed JSON")
        } catch {
            #expect(!error.message.contains("kkkkkkkkkk") && error.message.contains("[redacted]"), "\(error.message)")
        }
        // Shortened by redaction alone, not cut: no "…".
        #expect(!status("Bad Request", "bad token \(token)").hasSuffix("…"))
    }

    @Test("a basic-auth password is redacted as such; a header that is no credential (X-Sync-Mode: true) is left alone")
    func onlyCredentialsRedacted() {
        let backend = Backend(name: "silverbullet", settings: BackendSettings(url: "http://127.0.0.1:9", username: "u", password: "hunter2-secret"),
                              headers: [("Authorization", "Basic dTpodW50ZXIyLXNlY3JldA=="), ("X-Sync-Mode", "true")],
                              client: BackendHTTPClient(), catalogue: CatalogueSettings())
        let message = backend.statusError(BackendResponse(status: 400, reason: "Bad Request", headers: [],
                                                          body: Array("{\"error\":true,\"seen\":\"hunter2-secret\"}".utf8))).message
        #expect(message.contains("\"error\":true"), "\(message)")
        #expect(!message.contains("hunter2-secret"), "\(message)")
    }
}

@Suite struct PrometheusTimeTests {
    let now = fixedNow

    @Test func relativeTimesResolveAgainstTheClock() throws {
        #expect(try PrometheusTime.resolve("1h", argument: "start", now: now) == "1767222000.000")
        #expect(try PrometheusTime.resolve("now-30m", argument: "start", now: now) == "1767223800.000")
        #expect(try PrometheusTime.resolve("-1h30m", argument: "start", now: now) == "1767220200.000")
        #expect(try PrometheusTime.resolve("now", argument: "end", now: now) == "1767225600.000")
        #expect(try PrometheusTime.resolve("500ms", argument: "end", now: now) == "1767225599.500")
    }

    @Test func absoluteTimesPassThrough() throws {
        #expect(try PrometheusTime.resolve("2026-01-02T15:04:05Z", argument: "t", now: now) == "2026-01-02T15:04:05Z")
        #expect(try PrometheusTime.resolve("2026-01-02T15:04:05.123+02:00", argument: "t", now: now) == "2026-01-02T15:04:05.123+02:00")
        #expect(try PrometheusTime.resolve("1767225600.5", argument: "t", now: now) == "1767225600.5")
    }

    /// Go's RFC 3339 parsing (Prometheus, Vikunja) takes only `T` and `Z`, and its
    /// `ParseFloat` no hexadecimal without an exponent, `inf` or `nan`.
    @Test(arguments: ["yesterday", "1x", "2026-01-02", "h1", "", "2026-01-02T15:04:05",
                      "2026-01-02t15:04:05Z", "2026-01-02 15:04:05Z", "2026-01-02T15:04:05z", "0x10", "inf", "nan"])
    func garbageIsRefusedNamingTheArgument(_ text: String) {
        #expect(throws: ToolError.invalidArgument("start", "must be RFC 3339 (2026-01-02T15:04:05Z), Unix seconds, or relative like '1h' or 'now-30m'")) {
            try PrometheusTime.resolve(text, argument: "start", now: now)
        }
    }

    /// Before, "100y" gave a negative time whose milliseconds trapped in `format`, and
    /// "999999999999y" overflowed `Int64`: one tool call stopped the server.
    @Test(arguments: ["100y", "now-60y", "999999999999y", "-999999999999w999999999999d"])
    func beforeTheEpochIsRefused(_ text: String) {
        #expect(throws: ToolError.invalidArgument("start", "reaches back before 1970")) {
            try PrometheusTime.resolve(text, argument: "start", now: now + 0.123)
        }
    }

    @Test func formatKeepsMillisecondsFromTheEpochOn() {
        #expect(PrometheusTime.format(0) == "0.000")
        #expect(PrometheusTime.format(1767225600.123) == "1767225600.123")
        #expect(PrometheusTime.format(5.07) == "5.070")
        #expect(PrometheusTime.format(-3.5) == "0.000")
    }

    @Test func steps() throws {
        #expect(try PrometheusTime.step("1m") == "1m")
        #expect(try PrometheusTime.step("15") == "15")
        #expect(throws: ToolError.self) { try PrometheusTime.step("0") }
        #expect(throws: ToolError.self) { try PrometheusTime.step("fast") }
    }
}

@Suite struct DockerLogStreamTests {
    static func frame(_ stream: UInt8, _ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        let n = UInt32(payload.count)
        return [stream, 0, 0, 0, UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
    }

    /// Docker Engine API, "Stream format": 8-byte header, then the payload.
    @Test func stripsFrameHeaders() {
        let body = Self.frame(1, "out line\n") + Self.frame(2, "err line\n") + Self.frame(1, "")
        #expect(DockerLogStream.demultiplex(body) == "out line\nerr line\n")
    }

    @Test func ttyOutputWithoutFramesIsKept() {
        #expect(DockerLogStream.demultiplex(Array("plain tty output\n".utf8)) == "plain tty output\n")
    }

    /// stdcopy's stream 3 (`systemerr`) is a frame too; a header cut off at the end of the
    /// body is left out, not shown as binary bytes.
    @Test func systemErrorFramesAndACutHeader() {
        let body = Self.frame(1, "out\n") + Self.frame(3, "error from the daemon\n") + Array(Self.frame(1, "next").prefix(5))
        #expect(DockerLogStream.demultiplex(body) == "out\nerror from the daemon\n")
    }

    @Test func truncatedAndCorruptFramesKeepWhatArrived() {
        let truncated = Array(Self.frame(1, "abcdef").dropLast(2))
        #expect(DockerLogStream.demultiplex(truncated) == "abcd")
        let corrupt = Self.frame(1, "ok\n") + Array("garbage".utf8)
        #expect(DockerLogStream.demultiplex(corrupt) == "ok\ngarbage")
    }
}

@Suite struct SmallPieceTests {
    /// RFC 4648 section 10 test vectors.
    @Test func base64() {
        #expect(Base64.encode(Array("".utf8)) == "")
        #expect(Base64.encode(Array("f".utf8)) == "Zg==")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
    }

    /// RFC 3986 section 2.3: only unreserved characters pass.
    @Test func percentEncodingKeepsArgumentsInTheirPlace() {
        #expect(PercentEncoding.encode("a b/c?d#e&f=g") == "a%20b%2Fc%3Fd%23e%26f%3Dg")
        #expect(PercentEncoding.encode("é") == "%C3%A9")
        #expect(PercentEncoding.encodePath("Notes/My Page") == "Notes/My%20Page")
    }

    @Test func resultsOverTheCapAreTruncatedWithANote() {
        let format = ResultFormatter(maxBytes: 300)
        let big = JSONValue.array(Array(repeating: .string("ééééé"), count: 100))
        let result = format.json(big)
        guard case .text(let head) = result.content.first, case .text(let note) = result.content.last else {
            Issue.record("expected two text blocks")
            return
        }
        #expect(head.utf8.count <= 300)
        #expect(note.contains("truncated"))
        #expect(result.structuredContent == nil)
        #expect(format.json(["a": 1]).structuredContent == ["a": 1])
    }

    /// A log over the cap keeps its newest lines (why one asks for a tail), from a line start.
    @Test func aLogOverTheCapKeepsItsLastLines() {
        let format = ResultFormatter(maxBytes: 300)
        let log = (1...100).map { "line \($0) é" }.joined(separator: "\n") + "\nLAST"
        let result = format.tail(log)
        guard case .text(let note) = result.content.first, case .text(let kept) = result.content.last else {
            Issue.record("expected two text blocks")
            return
        }
        #expect(note.hasPrefix("[truncated:") && note.contains("only the last"))
        #expect(kept.hasSuffix("\nLAST") && kept.hasPrefix("line ") && kept.utf8.count <= 300)
        #expect(!kept.contains("line 1 é"))
        #expect(format.tail("short").content == [.text("short")])
    }
}
