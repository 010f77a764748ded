import Foundation
import Prometheus
import HTTPTypes
import Hummingbird
import Logging
import MCPCore
import RateLimit

/// Counts every response by status code (bounded: HTTP codes).
struct ResponseMetricsMiddleware: RouterMiddleware {
    typealias Context = MCPRequestContext
    let metrics: ServerMetrics?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            metrics?.counter(.httpResponses, String(response.status.code)).increment()
            return response
        } catch let error as any HTTPResponseError {
            metrics?.counter(.httpResponses, String(error.status.code)).increment()
            throw error
        }
    }
}

/// Refuses cross-site requests: a present `Origin` must be in the allowlist or name the
/// host the request was sent to (2025-11-25 basic/transports.mdx "Security Warning":
/// servers MUST validate Origin; an invalid one gets 403).
struct OriginMiddleware: RouterMiddleware {
    typealias Context = MCPRequestContext
    let allowed: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let origin = request.headers.value(.origin), !isAllowed(origin, host: request.head.authority) {
            return HTTPReplies.rpcError(.forbidden, .invalidRequest, "Forbidden: Origin not allowed")
        }
        return try await next(request, context)
    }

    func isAllowed(_ origin: String, host: String?) -> Bool {
        let normalized = origin.lowercased()
        if allowed.contains(normalized) { return true }
        guard let host = host?.lowercased(), let schemeEnd = normalized.range(of: "://") else { return false }
        return normalized[schemeEnd.upperBound...] == host
    }
}

/// Bearer authentication before any body is read (DESIGN.md request path). Failures are
/// 401 with a challenge (RFC 6750 §3) and a JSON-RPC error in the Go server's wording;
/// a locked-out address gets 429 with Retry-After.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = MCPRequestContext
    let authenticator: any RequestAuthenticator
    let trustedProxies: TrustedProxies
    let metrics: ServerMetrics?

    /// The client's address: the socket peer, or, behind a configured trusted proxy, the
    /// first untrusted hop of `Forwarded` / `X-Forwarded-For` (RFC 7239). Off by default:
    /// exposed directly, the socket address is the client.
    func clientAddress(_ request: Request, _ context: Context) -> String {
        guard trustedProxies.isEnabled, let peer = IPAddress(context.clientAddress) else { return context.clientAddress }
        let client = trustedProxies.clientAddress(
            peer: peer,
            xForwardedFor: request.headers[values: HTTPField.Name("X-Forwarded-For")!],
            forwarded: request.headers[values: HTTPField.Name("Forwarded")!])
        return client.description
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.resolvedClientAddress = clientAddress(request, context)
        switch authenticator.authenticate(authorization: request.headers.value(.authorization), clientAddress: context.clientAddress) {
        case .allowed(let principal):
            context.principal = principal
            var log = RequestLogMetadata.current
            log?.token = principal.name
            let authenticated = context
            return try await RequestLogMetadata.$current.withValue(log) { try await next(request, authenticated) }
        case .denied(let reason, let message, let tokenPresented, let retryAfter):
            metrics?.counter(.authFailures, reason).increment()
            // The reason and the address, never the presented value.
            context.logger.info("authentication refused", metadata: ["reason": .string(reason), "client": .string(context.clientAddress)])
            if let retryAfter {
                return HTTPReplies.rpcError(.tooManyRequests, .serverError, "Too many failed authentication attempts; retry later",
                                            headers: [.retryAfter: String(retryAfter)])
            }
            var challenge = #"Bearer realm="mcp""#
            if tokenPresented { challenge += #", error="invalid_token""# }
            return HTTPReplies.rpcError(.unauthorized, .serverError, message, headers: [.wwwAuthenticate: challenge])
        }
    }
}
