import Foundation
import Prometheus
import HTTPTypes
import Hummingbird
import MCPCore
import NIOCore

/// The ops listener's routes, shaped like the Go server's (reference/seed-interface.md):
/// `/health`, `/ready`, `/status`, `/metrics`. No authentication: bind it to loopback. They
/// answer only for `localhost`, IP literals and `server.http_allowed_hosts` (DNS rebinding).
///
/// They run on the public listener's machinery (``PublicListener``, ``PublicChildChannel``),
/// so the ops port has the same header deadline, idle timeout, head caps and lingering close
/// as the public one; none of them takes a body (413). HEAD is answered too (monitors use it).
enum OpsRoutes {
    /// - Parameters:
    ///   - mode: the public listener's scheme for `/status` (`https`, or `http` with TLS off).
    ///   - allowedHosts: `server.http_allowed_hosts`: host names answered besides `localhost`
    ///     and IP literals (421 for any other `Host`).
    static func routes(identity: ServerIdentity, protocolVersion: String = ProtocolVersion.latestSessionEra, mode: String = "https", allowedHosts: [String] = [],
                       readiness: Readiness, metrics: ServerMetrics, status: @escaping @Sendable () -> JSONObject) -> PublicRoutes {
        var routes = PublicRoutes.unauthenticatedOps(allowedHosts: allowedHosts, metrics: metrics)
        routes.onGetAndHead("/health") { _, _ in
            HTTPReplies.json(["status": "healthy", "timestamp": .int(UnixTime.seconds), "service": .string(identity.name)])
        }
        routes.onGetAndHead("/ready") { _, _ in
            let phase = readiness.current
            return HTTPReplies.json(["status": phase == .ready ? "ready" : .string(phase.rawValue)],
                                    status: phase == .ready ? .ok : .serviceUnavailable)
        }
        routes.onGetAndHead("/status") { _, _ in
            var object: JSONObject = ["version": .string(identity.version), "protocol": .string(protocolVersion), "mode": .string(mode)]
            for (key, value) in status() { object[key] = value }
            return HTTPReplies.json(.object(object))
        }
        routes.onGetAndHead("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.render())))
        }
        return routes
    }
}
