import MCPCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One configured backend as the tools see it: where it is, how to authenticate, and the
/// request/response rules every call follows (deadline, size cap, status to error).
struct Backend: Sendable {
    let name: String
    /// The parsed URL, or why it could not be parsed (reported by every call, so the
    /// reason names the backend, never the configured text).
    let url: Result<BackendURL, ToolError>
    let headers: [(String, String)]
    let client: BackendHTTPClient
    let timeout: Duration
    let maxResponseBytes: Int
    let caFile: String?
    /// The credentials this backend is sent (the configured token and password, and each
    /// credential header's value, whole and without its scheme), longest first: a hostile
    /// backend, or a proxy in front of it that reflects request headers in its error page,
    /// must not get them into a tool result. Other headers (SilverBullet's `X-Sync-Mode:
    /// true`) are no secret, and redacting their values mangled ordinary words.
    private let secrets: [[UInt8]]
    /// What every answer is searched for (``redactSecrets(_:)``): the credentials of 16 bytes
    /// or more that contain no other of them (`Bearer <token>` is found through `<token>`),
    /// so an answer without one is read once per credential, not twice.
    private let answerSecrets: [[UInt8]]

    init(name: String, settings: BackendSettings, headers: [(String, String)], client: BackendHTTPClient,
         catalogue: CatalogueSettings) {
        self.name = name
        self.url = Result { () throws(ToolError) in try BackendURL(parsing: settings.url) }
            .mapError { ToolError($0.kind, "\(name): \($0.message)") }
        self.headers = headers
        self.client = client
        self.timeout = settings.timeout ?? catalogue.httpTimeout
        self.maxResponseBytes = max(catalogue.maxResultBytes, 1024) * 4
        self.caFile = settings.caFile ?? catalogue.caFile
        var secrets: Set<[UInt8]> = [Array(settings.token.utf8), Array((settings.password ?? "").utf8)]
        for (name, value) in headers where Self.credentialHeaders.contains(name.lowercased()) {
            secrets.insert(Array(value.utf8))
            if let credential = value.split(separator: " ", maxSplits: 1).last { secrets.insert(Array(credential.utf8)) }
        }
        self.secrets = secrets.filter { $0.count >= 4 }.sorted { $0.count > $1.count }
        let long = self.secrets.filter { $0.count >= Self.answerSecretLength }
        self.answerSecrets = long.filter { secret in
            !long.contains { $0.count < secret.count && Self.contains(secret, $0) }
        }
    }

    /// Sends a request; a status outside `accept` (default: 2xx) becomes a
    /// ``ToolError/Kind/backendStatus`` error carrying the status and a short reason.
    /// `redacting: false` leaves our credentials in a successful body: only for a tool that
    /// does not show the body as it is (it writes it back, or takes it apart and redacts
    /// what it shows); redacted, a task read and written back stored `[redacted]` in place
    /// of the user's text, and a log stream's frame lengths no longer matched its bytes.
    func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil,
        contentType: String? = nil, accept: Set<Int> = [], extraHeaders: [(String, String)] = [],
        within limit: Duration? = nil, waiting wait: Duration? = nil, redacting: Bool = true
    ) async throws(ToolError) -> BackendResponse {
        let url = try url.get()
        var headers = headers + extraHeaders
        if let contentType { headers.append(("Content-Type", contentType)) }
        // `waiting`: a request the backend answers only once an action is done (a container's
        // stop) may take that long instead of `timeout.http`.
        let request = BackendRequest(
            method: method, url: url, path: path, query: query, headers: headers, body: body,
            timeout: wait ?? limit.map { min($0, timeout) } ?? timeout, maxResponseBytes: maxResponseBytes, caFile: caFile)
        var response = try await client.execute(request)
        if redacting { redactSecrets(&response.body) }
        if (200..<300).contains(response.status) || accept.contains(response.status) { return response }
        throw statusError(response)
    }

    /// A GET of a multi-page read past its first page (a search's pages, a list's later
    /// pages), bounded by what is left of the call's time (``ToolContext/backendTimeLeft``):
    /// nil when that time is up, before the request or during it, and the caller answers with
    /// the pages it has. A multi-page read used to run into the call's deadline and lose every
    /// page it had read to the timeout.
    func page(
        _ path: String, query: [(String, String)] = [], accept: Set<Int> = [], extraHeaders: [(String, String)] = [],
        context: ToolContext
    ) async throws(ToolError) -> BackendResponse? {
        // A cancelled call (the client, its connection) is not turned into a partial answer.
        if Task.isCancelled { throw ToolError(.timeout, "\(name): the call was cancelled") }
        guard let left = context.backendTimeLeft else {
            return try await send(.GET, path, query: query, accept: accept, extraHeaders: extraHeaders)
        }
        guard left > .zero else { return nil }
        do {
            return try await send(.GET, path, query: query, accept: accept, extraHeaders: extraHeaders, within: left)
        } catch where error.kind == .timeout && !Task.isCancelled && (context.backendTimeLeft ?? .zero) <= .zero {
            // Our bound, not the backend's own timeout (nor a connect that gave up early).
            return nil
        }
    }

    /// Sends a request with an optional JSON body and parses the JSON answer (an empty
    /// body is `null`).
    func json(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil, redacting: Bool = true
    ) async throws(ToolError) -> JSONValue {
        let response = try await send(
            method, path, query: query, body: body.map { $0.serialized() },
            contentType: body == nil ? nil : "application/json",
            extraHeaders: [("Accept", "application/json")], redacting: redacting)
        return try parse(response)
    }

    func parse(_ response: BackendResponse) throws(ToolError) -> JSONValue {
        if response.body.isEmpty { return .null }
        do {
            return try JSONParser.parse(response.body, limits: .init(maxDepth: 128, maxBytes: maxResponseBytes))
        } catch {
            // Valid JSON over the parser's caps (a million values: a long Prometheus range)
            // is an answer too large for us, not a malformed one.
            if error.reason == .tooManyValues || error.reason == .tooLarge {
                throw ToolError(.tooLarge, "\(name) returned more JSON than a tool result may hold (\(error)); ask for less")
            }
            throw ToolError(.badResponse, "\(name) returned malformed JSON (\(error)): \(snippet(response.body))")
        }
    }

    func statusError(_ response: BackendResponse) -> ToolError {
        var message = "\(name) returned HTTP \(response.status)"
        if !response.reason.isEmpty { message += " \(String(decoding: redacted(Array(response.reason.utf8)), as: UTF8.self))" }
        if (300..<400).contains(response.status) {
            message += " (redirects are not followed; check the configured URL)"
        } else if let reason = reason(response.body) {
            message += ": \(reason)"
        }
        return ToolError(.backendStatus, message)
    }

    /// The backend's own explanation: a JSON `message`/`error` member when there is one,
    /// else the start of the body.
    func reason(_ body: [UInt8]) -> String? {
        if body.isEmpty { return nil }
        if let json = try? JSONParser.parse(body, limits: .init(maxDepth: 16, maxBytes: 1 << 20)) {
            for key in ["message", "error", "details", "err"] {
                if let text = json[key]?.stringValue, !text.isEmpty { return snippet(Array(text.utf8)) }
            }
        }
        return snippet(body)
    }

    /// The start of backend text for an error, with our credentials taken out first. The
    /// part redacted reaches a secret's length past what is shown, so no secret cut by it
    /// shows its head (a longer part is taken when replacements shortened it).
    func snippet(_ bytes: [UInt8]) -> String {
        let wanted = Self.snippetLimit + (secrets.first?.count ?? 0)
        var take = wanted
        while true {
            let part = redacted(bytes.prefix(take))
            // "…" only where the text was cut: redaction alone may shorten it.
            if take >= bytes.count { return Self.snippet(part) }
            if part.count >= wanted { return Self.snippet(part, cut: true) }
            take *= 2
        }
    }

    /// A backend, or a proxy in front of it that reflects request headers (a debugging
    /// endpoint, an echo service), can put our credential in a successful answer as well as
    /// in an error: every answer is cleared of it before a tool reads it. `memchr` and
    /// `memcmp` look (well under a millisecond for a 4 MiB answer); the copy is made only
    /// when one is there. Only credentials of 16 bytes or more are looked for here (tokens,
    /// API keys, `Authorization` values, which a reflecting proxy echoes): a short password
    /// such as `admin` or `1234` would also match ordinary words and numbers in every answer,
    /// mangling its data or breaking its JSON. Error text is still cleared of every one.
    func redactSecrets(_ body: inout [UInt8]) {
        if answerSecrets.contains(where: { Self.contains(body, $0) }) { body = redacted(body, atLeast: Self.answerSecretLength) }
    }

    static let answerSecretLength = 16

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return false }
        return haystack.withUnsafeBytes { h in
            needle.withUnsafeBytes { n in
                guard let base = h.baseAddress, let pattern = n.baseAddress else { return false }
                var offset = 0
                let last = h.count - n.count
                while offset <= last {
                    guard let hit = memchr(base + offset, Int32(first), last - offset + 1) else { return false }
                    let at = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + at, pattern, n.count) == 0 { return true }
                    offset = at + 1
                }
                return false
            }
        }
    }

    /// `bytes` with every occurrence of a credential replaced; `atLeast`: only the credentials
    /// of that many bytes or more.
    func redacted(_ bytes: some Collection<UInt8>, atLeast minimum: Int = 0) -> [UInt8] {
        var text = Array(bytes)
        for secret in secrets where text.count >= secret.count && secret.count >= minimum {
            var out: [UInt8] = []
            out.reserveCapacity(text.count)
            var index = 0
            while index < text.count {
                if text[index] == secret[0], index + secret.count <= text.count, text[index..<(index + secret.count)].elementsEqual(secret) {
                    out.append(contentsOf: "[redacted]".utf8)
                    index += secret.count
                } else {
                    out.append(text[index])
                    index += 1
                }
            }
            text = out
        }
        return text
    }

    static let snippetLimit = 200

    /// The request headers that carry a backend's credential (``ToolCatalogue``).
    static let credentialHeaders: Set<String> = ["authorization", "x-api-key"]

    /// At most 200 bytes of text, on a UTF-8 boundary, control characters flattened;
    /// `cut`: `bytes` is the start of a longer text.
    static func snippet(_ bytes: [UInt8], cut: Bool = false) -> String {
        let limit = snippetLimit
        var end = min(bytes.count, limit)
        while end > 0, end < bytes.count, bytes[end] & 0xC0 == 0x80 { end -= 1 }
        var text = String(decoding: bytes[..<end], as: UTF8.self)
            .map { $0.isNewline || $0 == "\t" ? " " : $0.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) ? "\u{FFFD}" : String($0) }
            .joined()
        if end < bytes.count || cut { text += "…" }
        return text
    }
}
