import Auth
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MCPCore
import Prometheus
import RateLimit

/// What every public route checks before its handler, in DESIGN.md's order: the `Origin`
/// (403), the bearer token (401, or 429 for a locked-out address), the caller's request rate
/// (429); then it counts the response by status.
///
/// One middleware, not one per check: each middleware is an async frame and an executor
/// check per request, and every new frame of a request's task is a new allocation (the task
/// allocator's slabs live only as long as the task). The checks themselves are synchronous.
struct RequestGate: RouterMiddleware {
    typealias Context = MCPRequestContext
    let origins: OriginPolicy
    let authenticator: any RequestAuthenticator
    let trustedProxies: TrustedProxies
    let rateLimiter: SharedRateLimiter?
    let metrics: ServerMetrics?

    func handle(_ request: Request, context: Context, next: @concurrent (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await pass(request, context: context, next: next)
            count(response.status, context: context)
            return response
        } catch let error as any HTTPResponseError {
            count(error.status, context: context)
            throw error
        } catch let refusal as RequestRefusal {
            // What ``RequestRunner`` answers for these: the refusal's status, and 500 for any
            // other error; counted here, as every other answer of a route.
            count(refusal.head.status, context: context)
            throw refusal
        } catch {
            count(.internalServerError, context: context)
            throw error
        }
    }

    /// An answer for a connection already gone is never written, so it is not counted: a
    /// body cut off by its deadline (counted as `phase="body"`), or by the body budget, also
    /// made the route's 400 for the unreadable body.
    private func count(_ status: HTTPResponse.Status, context: Context) {
        guard context.channel.isActive else { return }
        metrics?.responses(status: Int(status.code)).increment()
    }

    private func pass(_ request: Request, context: Context, next: @concurrent (Request, Context) async throws -> Response) async throws -> Response {
        // 2025-11-25 basic/transports.mdx "Security Warning": servers MUST validate Origin;
        // an invalid one gets 403.
        if let origin = request.headers.value(.origin), !origins.allows(origin, host: request.head.authority) {
            return HTTPReplies.rpcError(.forbidden, .invalidRequest, "Forbidden: Origin not allowed")
        }
        var context = context
        context.resolvedClientAddress = clientAddress(request, context)
        let principal: MCPSession.Principal
        switch authenticator.authenticate(authorization: request.headers.value(.authorization), clientAddress: context.clientAddress, connection: context.connection) {
        case .allowed(let allowed):
            principal = allowed
        case .denied(let reason, let message, let tokenPresented, let retryAfter, let lockoutStarted):
            return refuse(reason: reason, message: message, tokenPresented: tokenPresented, retryAfter: retryAfter,
                          lockoutStarted: lockoutStarted, statelessEra: request.declaresStatelessEra, context: context)
        }
        context.principal = principal
        var remaining: Int?
        if let rateLimiter {
            switch rateLimiter.decide(principal: principal) {
            case .allow(let left): remaining = left
            case .deny(let retryAfter): return rateLimiter.refusal(retryAfter: retryAfter, statelessEra: request.declaresStatelessEra)
            }
            context.rateLimiter = rateLimiter
        }
        RequestLogMetadata.current?.token = principal.name
        var response = try await next(request, context)
        // A refusal by another limit (a tool's rate, the in-flight cap: 429/503) would read as
        // "quota left" with these, so they go on answers only.
        if let rateLimiter, let remaining, response.status != .tooManyRequests, response.status != .serviceUnavailable {
            // Ours alone: no handler sets these, so they are appended, not searched for.
            response.headers.append(rateLimiter.policyField)
            response.headers.append(rateLimiter.remainingField(remaining))
        }
        return response
    }

    /// The client's address: the socket peer, or, behind a configured trusted proxy, the
    /// first untrusted hop of the configured forwarding header (RFC 7239). Off by default:
    /// exposed directly, the socket address is the client.
    func clientAddress(_ request: Request, _ context: Context) -> String {
        guard trustedProxies.isEnabled, let peer = IPAddress(context.clientAddress) else { return context.clientAddress }
        let client: IPAddress
        switch trustedProxies.header {
        case .xForwardedFor:
            client = trustedProxies.clientAddress(peer: peer, xForwardedFor: request.headers[values: HTTPField.Name("X-Forwarded-For")!])
        case .forwarded:
            client = trustedProxies.clientAddress(peer: peer, forwarded: request.headers[values: HTTPField.Name("Forwarded")!])
        }
        return client.description
    }

    /// 401 with a challenge (RFC 6750 §3) and a JSON-RPC error in the Go server's wording,
    /// or 429 with Retry-After for a locked-out address.
    private func refuse(reason: String, message: String, tokenPresented: Bool, retryAfter: Int?, lockoutStarted: Bool,
                        statelessEra: Bool, context: Context) -> Response {
        metrics?.counter(.authFailures, reason).increment()
        // The reason and the address, never the presented value. Each refusal at `info` let a
        // client that pipelines tokenless requests write tens of thousands of lines a second
        // (a lockout does not stop it asking): each is counted, and only the failure that
        // starts a lockout is logged at `info`; the others at `debug`.
        let metadata: Logger.Metadata = ["reason": .string(reason), "client": .string(context.clientAddress)]
        if lockoutStarted {
            context.logger.info("address locked out after repeated authentication failures", metadata: metadata)
        } else {
            context.logger.debug("authentication refused", metadata: metadata)
        }
        if let retryAfter {
            return HTTPReplies.refusal(.tooManyRequests, "Too many failed authentication attempts; retry later",
                                       statelessEra: statelessEra, headers: [.retryAfter: String(retryAfter)])
        }
        // RFC 6750 §3.1: no error code without credentials, invalid_request for a malformed
        // header, invalid_token for a wrong or expired token.
        let challenge = AuthFailure.allCases.first { $0.reason == reason }?.wwwAuthenticate()
            ?? (tokenPresented ? #"Bearer realm="mcp", error="invalid_token""# : #"Bearer realm="mcp""#)
        return HTTPReplies.refusal(.unauthorized, message, statelessEra: statelessEra, headers: [.wwwAuthenticate: challenge])
    }
}

/// Which `Origin`s may call: those in the allowlist, and the origin of the request's own
/// host when that host cannot be rebound.
///
/// DNS rebinding (the attack 2025-11-25 basic/transports.mdx "Security Warning" has servers
/// validate Origin against) points an attacker's domain at this server: the browser then
/// sends `Host: evil.example` and `Origin: https://evil.example`, which agree. So "the
/// origin is the host" proves nothing for a host name; it holds only for an IP literal or
/// `localhost` (which browsers resolve to loopback themselves). A page served under a name
/// must be listed in `server.allowed_origins`.
struct OriginPolicy: Sendable {
    let allowed: Set<String>

    init(allowed: [String]) {
        self.allowed = Set(allowed.map { $0.lowercased() })
    }

    func allows(_ origin: String, host: String?) -> Bool {
        let normalized = origin.lowercased()
        if allowed.contains(normalized) { return true }
        guard let host = host?.lowercased(), Self.cannotBeRebound(host),
              let schemeEnd = normalized.range(of: "://") else { return false }
        return normalized[schemeEnd.upperBound...] == host
    }

    /// `localhost`, an IPv4 literal or a bracketed IPv6 literal, with or without a port.
    static func cannotBeRebound(_ host: String) -> Bool {
        if host.hasPrefix("[") { return host.contains("]") }
        let name = host.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[0]
        if name == "localhost" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && UInt8($0) != nil }
    }
}
