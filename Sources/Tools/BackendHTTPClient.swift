import MCPCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// The outbound HTTP/1.1 client the tools use to reach their backends.
///
/// Small on purpose: one request per connection (`Connection: close`), no redirects
/// (a 3xx is returned like any other status, so a backend can never send our token to
/// another host), no proxy, and every request bounded by a deadline and a response-size
/// cap. HTTPS goes through ``tlsHandlerProvider``, which builds the TLS module's client
/// handler (OpenSSL, certificate and host-name verification): without one, `https://`
/// backends fail with a clear ``ToolError/Kind/tls`` error rather than falling back to
/// plaintext.
///
/// Errors are always ``ToolError``s: `unreachable` (refused, reset, DNS), `timeout`
/// (connect or overall deadline, or the caller's task was cancelled), `tls`,
/// `too_large`, `bad_response` (not HTTP).
public final class BackendHTTPClient: Sendable {
    /// Makes the TLS client handler for one connection; the argument is the server name
    /// to verify and to send as SNI.
    public typealias TLSHandlerProvider = @Sendable (_ serverName: String) throws -> any ChannelHandler

    public struct Configuration: Sendable {
        /// Upper bound for the TCP connect; the request's own deadline may be shorter.
        public var connectTimeout: Duration
        public var userAgent: String

        public init(connectTimeout: Duration = .seconds(10), userAgent: String = "axinova-mcp-server") {
            self.connectTimeout = connectTimeout
            self.userAgent = userAgent
        }
    }

    private let group: any EventLoopGroup
    private let configuration: Configuration
    private let tlsHandlerProvider: TLSHandlerProvider?

    public init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        configuration: Configuration = Configuration(),
        tlsHandlerProvider: TLSHandlerProvider? = nil
    ) {
        self.group = group
        self.configuration = configuration
        self.tlsHandlerProvider = tlsHandlerProvider
    }

    /// Sends `request` and returns the complete response, whatever its status.
    public func execute(_ request: BackendRequest) async throws(ToolError) -> BackendResponse {
        let url = request.url
        let peer = url.description
        if url.isTLS && tlsHandlerProvider == nil {
            throw ToolError(.tls, "\(peer): https backends need the TLS client, which is not configured")
        }
        if Task.isCancelled { throw ToolError(.timeout, "the call to \(peer) was cancelled") }

        var headers = HTTPHeaders()
        headers.add(name: "Host", value: url.hostHeader)
        headers.add(name: "User-Agent", value: configuration.userAgent)
        headers.add(name: "Connection", value: "close")
        for (name, value) in request.headers { headers.add(name: name, value: value) }
        if let body = request.body {
            headers.add(name: "Content-Length", value: String(body.count))
        } else if request.method == .POST || request.method == .PUT {
            headers.add(name: "Content-Length", value: "0")
        }
        let head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.target, headers: headers)

        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: BackendResponse.self)
        let deadline = NIODeadline.now() + TimeAmount(request.timeout)
        let timeout = request.timeout
        let connectTimeout = min(configuration.connectTimeout, request.timeout)
        let tlsProvider = url.isTLS ? tlsHandlerProvider : nil
        let body = request.body
        let maxBytes = request.maxResponseBytes

        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(connectTimeout))
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tlsProvider {
                        let handler: any ChannelHandler
                        do {
                            handler = try tlsProvider(url.host)
                        } catch {
                            throw ToolError(.tls, "TLS setup for \(peer) failed: \(error)")
                        }
                        try sync.addHandler(handler)
                    }
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(HTTPExchangeHandler(
                        head: head, body: body, maxBytes: maxBytes, peer: peer, usesTLS: url.isTLS, promise: promise))
                }
            }

        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: url.host, port: url.port).get()
        } catch let error as ToolError {
            promise.fail(error)
            throw error
        } catch ChannelError.connectTimeout {
            let error = ToolError(.timeout, "connecting to \(peer) timed out after \(connectTimeout)")
            promise.fail(error)
            throw error
        } catch let error as NIOConnectionError {
            // Errors of the channel initializer (the TLS setup) arrive wrapped per attempt.
            let inner = error.connectionErrors.lazy.compactMap { $0.error as? ToolError }.first
            let toolError = inner ?? ToolError(.unreachable, "cannot connect to \(peer): \(error)")
            promise.fail(toolError)
            throw toolError
        } catch {
            let kind: ToolError.Kind = url.isTLS && !(error is NIOConnectionError) && !(error is IOError) ? .tls : .unreachable
            let toolError = ToolError(kind, "cannot connect to \(peer): \(error)")
            promise.fail(toolError)
            throw toolError
        }

        let timer = eventLoop.scheduleTask(deadline: deadline) {
            promise.fail(ToolError(.timeout, "\(peer) did not answer within \(timeout)"))
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                promise.fail(ToolError(.timeout, "the call to \(peer) was cancelled"))
                channel.close(promise: nil)
            }
        } catch let error as ToolError {
            throw error
        } catch {
            throw ToolError(.internalError, "\(peer): \(error)")
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
