import HTTPTypes
import Hummingbird
import MCPCore
import Prometheus

/// The public listener's routes: a handful of fixed paths, each with a handler per method,
/// every request through ``RequestGate`` before its handler (an unknown route too, so it
/// answers 401 to a caller without a token, and 404 only to one with).
///
/// Hummingbird's router resolves paths through a trie that captures parameters, and wraps
/// each route in its middleware chain: about eight async frames per request, each an
/// executor check on return, for routes that have no parameters. One dictionary lookup and
/// one closure do the same with less: `tools/call` 0.982 and `tools/list` 0.964 of the CPU per
/// request (`PAIRED=1 bench/ab.sh`).
///
/// Paths match as Hummingbird's did, so no client sees a difference: case-sensitive, with
/// empty segments ignored (`/mcp/` and `//mcp` are `/mcp`); a path without a handler for the
/// method is 404.
struct PublicRoutes: HTTPResponder {
    typealias Context = MCPRequestContext
    typealias Handler = @Sendable (Request, Context) async throws -> Response

    private struct Route: Hashable {
        let method: HTTPRequest.Method
        let path: String
    }

    /// Nil on the ops listener, whose routes are unauthenticated (it is bound to loopback).
    private let gate: RequestGate?
    /// False on the ops listener, whose routes take no body: a request that comes with one
    /// is refused with 413 and its connection closed (after a bounded lingering close),
    /// rather than having its body read and dropped.
    private let acceptsBodies: Bool
    /// On the ops listener: the host names it answers for besides `localhost` and IP literals
    /// (`server.http_allowed_hosts`); nil on the public listeners, whose gate checks Origin.
    private let allowedHosts: Set<String>?
    /// On the ops listener: its refusals by reason, `mcp_ops_requests_refused_total{reason}`
    /// (`host`: 421, `body`: 413); the public listeners count every status in the gate.
    private let refusals: (host: Counter, body: Counter)?
    /// Each handler in a struct: a closure stored as a dictionary's value is kept in the
    /// generic form, and reading it back wrapped it in a thunk (an allocation per request).
    private struct Entry {
        let handler: Handler
    }

    private var handlers: [Route: Entry] = [:]
    /// The `Allow` value of each routed path, for a request with another method: 405, not
    /// 404 (RFC 9110 §15.5.6; the Go server answered 405 too).
    private var allowed: [String: String] = [:]

    /// Routes behind the gate (origin, bearer token, rate limit): every public route.
    init(gate: RequestGate) {
        self.gate = gate
        self.acceptsBodies = true
        self.allowedHosts = nil
        self.refusals = nil
    }

    private init(ungated allowedHosts: [String], metrics: ServerMetrics?) {
        self.gate = nil
        self.acceptsBodies = false
        self.allowedHosts = Set(allowedHosts.map { Self.hostName($0) })
        self.refusals = metrics.map { ($0.counter(.opsRefused, "host"), $0.counter(.opsRefused, "body")) }
    }

    /// The ops listener's routes: no gate, no bodies, and only for the hosts it answers for
    /// (`allowedHosts`, `localhost`, IP literals). A separate constructor, so that no public
    /// route set can lose its gate by a `nil` passed in passing.
    static func unauthenticatedOps(allowedHosts: [String] = [], metrics: ServerMetrics? = nil) -> PublicRoutes {
        PublicRoutes(ungated: allowedHosts, metrics: metrics)
    }

    /// Adds `handler` for `method` on `path`, which must be in its canonical form.
    mutating func on(_ method: HTTPRequest.Method, _ path: String, handler: @escaping Handler) {
        precondition(Self.canonical(path) == path, "\(path) is not canonical")
        precondition(handlers.updateValue(Entry(handler: handler), forKey: Route(method: method, path: path)) == nil, "\(method) \(path) twice")
        allowed[path] = handlers.keys.filter { $0.path == path }.map(\.method.rawValue).sorted().joined(separator: ", ")
    }

    /// Adds `handler` for GET on `path`, and for HEAD: the same answer without its body but
    /// with its `Content-Length` (RFC 9110 §9.1: a general-purpose server MUST support GET
    /// and HEAD; §9.3.2: the same fields as for GET). Only for answers that are whole; an
    /// event stream's GET has no HEAD (it would be a stream nobody reads).
    mutating func onGetAndHead(_ path: String, handler: @escaping Handler) {
        on(.get, path, handler: handler)
        on(.head, path) { request, context in
            var response = try await handler(request, context)
            let length = response.headers[.contentLength]
            response.body = ResponseBody()
            response.headers[.contentLength] = length
            return response
        }
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        if !acceptsBodies, Self.hasBody(request) {
            refusals?.body.increment()
            return HTTPReplies.empty(.contentTooLarge, headers: [.connection: "close"])
        }
        // DNS rebinding: a page on evil.example, its name pointed at 127.0.0.1, could read
        // the unauthenticated ops routes from a browser on this machine (same origin to the
        // browser, so no Origin header to check). Its requests carry `Host: evil.example`.
        if let allowedHosts, let authority = request.head.authority,
           !OriginPolicy.cannotBeRebound(authority.lowercased()), !allowedHosts.contains(Self.hostName(authority)) {
            refusals?.host.increment()
            return HTTPReplies.json(["error": "this listener does not answer for that host; list it in server.http_allowed_hosts"],
                                    status: .misdirectedRequest)
        }
        // Routed first, then gated (DESIGN.md's request path); the gate's answer comes first.
        let handler = handler(request.method, request.uri.path)
        let allowed = handler == nil ? self.allowed[Self.canonical(request.uri.path)] : nil
        do {
            guard let gate else {
                guard let handler else { throw Self.unrouted(allowed: allowed) }
                return try await handler(request, context)
            }
            return try await gate.handle(request, context: context) { request, context in
                guard let handler else { throw Self.unrouted(allowed: allowed) }
                return try await handler(request, context)
            }
        } catch let error as any HTTPResponseError {
            return try error.response(from: request, context: context.hummingbird)
        }
    }

    /// 405 with the path's methods when it is routed for others, else 404.
    static func unrouted(allowed: String?) -> HTTPError {
        guard let allowed else { return HTTPError(.notFound) }
        return HTTPError(.methodNotAllowed, headers: [.allow: allowed])
    }

    /// The handler for a request line's method and path: looked up as sent, then, only if
    /// that misses, in canonical form.
    func handler(_ method: HTTPRequest.Method, _ path: String) -> Handler? {
        if let entry = handlers[Route(method: method, path: path)] { return entry.handler }
        let canonical = Self.canonical(path)
        return canonical == path ? nil : handlers[Route(method: method, path: canonical)]?.handler
    }

    /// The name part of a Host value or configured name: lower case, without port or final dot.
    static func hostName(_ authority: String) -> String {
        var name = Substring(authority.lowercased())
        if let colon = name.firstIndex(of: ":") { name = name[..<colon] }
        if name.hasSuffix(".") { name = name.dropLast() }
        return String(name)
    }

    /// Whether the request's head frames a body (RFC 9112 §6.3): chunked, or a length other than 0.
    static func hasBody(_ request: Request) -> Bool {
        request.headers.value(.transferEncoding) != nil || request.headers.value(.contentLength).map { Int($0) != 0 } ?? false
    }

    /// "/" and the path's non-empty segments, joined by "/".
    static func canonical(_ path: String) -> String {
        "/" + path.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
    }
}
