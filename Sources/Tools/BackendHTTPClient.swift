import MCPCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The outbound HTTP/1.1 client the tools use to reach their backends.
///
/// Small on purpose: keep-alive connections reused per backend (at most
/// ``Configuration/maxIdleConnectionsPerBackend`` idle each), no redirects (a 3xx is
/// returned like any other status, so a backend can never send our token to another
/// host), no proxy, and every request bounded by a deadline and a response-size cap.
/// HTTPS goes through ``tlsHandlerProvider``, which builds the TLS module's client handler
/// (OpenSSL, certificate and host-name verification): without one, `https://` backends
/// fail with a clear ``ToolError/Kind/tls`` error rather than falling back to plaintext.
///
/// Errors are always ``ToolError``s: `unreachable` (refused, reset, DNS), `timeout`
/// (connect or overall deadline, or the caller's task was cancelled), `tls`,
/// `too_large`, `bad_response` (not HTTP).
public final class BackendHTTPClient: Sendable {
    /// Makes the TLS client handler for one connection: `serverName` is the host to verify
    /// and to send as SNI; `caFile` is the backend's own CA bundle (nil: the default trust).
    /// Called on the connection's event loop; contexts should be built once and cached.
    public typealias TLSHandlerProvider = @Sendable (_ serverName: String, _ caFile: String?) throws -> any ChannelHandler

    public struct Configuration: Sendable {
        /// Upper bound for the TCP connect; the request's own deadline may be shorter.
        public var connectTimeout: Duration
        /// Idle keep-alive connections kept per backend; 0 opens a connection per request.
        public var maxIdleConnectionsPerBackend: Int
        /// A pooled connection idle for longer is closed rather than reused.
        public var maxIdleTime: Duration
        public var userAgent: String
        /// Requests in progress to one backend at once (`tools.max_backend_connections`); a
        /// request past it waits for one to end, within its own deadline.
        public var maxConnectionsPerBackend: Int
        /// Told of each request that had to wait for a place, and how the wait ended.
        public var onWait: (@Sendable (BackendConnectionWait) -> Void)?

        public init(
            connectTimeout: Duration = .seconds(10), maxIdleConnectionsPerBackend: Int = 4,
            maxIdleTime: Duration = .seconds(20), userAgent: String = "axinova-mcp-server",
            maxConnectionsPerBackend: Int = 32, onWait: (@Sendable (BackendConnectionWait) -> Void)? = nil
        ) {
            self.connectTimeout = connectTimeout
            self.maxIdleConnectionsPerBackend = maxIdleConnectionsPerBackend
            self.maxIdleTime = maxIdleTime
            self.userAgent = userAgent
            self.maxConnectionsPerBackend = maxConnectionsPerBackend
            self.onWait = onWait
        }
    }

    /// How a request's wait for a place under ``Configuration/maxConnectionsPerBackend`` ended.
    public enum BackendConnectionWait: String, Sendable {
        /// A place came free within the request's deadline.
        case served
        /// None did (or the call was cancelled meanwhile): the request failed as a timeout.
        case timedOut = "timed_out"
    }

    private let group: any EventLoopGroup
    private let configuration: Configuration
    private let tlsHandlerProvider: TLSHandlerProvider?
    let pool: ConnectionPool
    let slots: ConnectionSlots
    /// Host names are looked up apart from the event loops (NIO's resolver queues every
    /// lookup of a loop behind the one before).
    let resolver = BackendResolver()

    public init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        configuration: Configuration = Configuration(),
        tlsHandlerProvider: TLSHandlerProvider? = nil
    ) {
        self.group = group
        self.configuration = configuration
        self.tlsHandlerProvider = tlsHandlerProvider
        self.pool = ConnectionPool(
            maxIdlePerBackend: configuration.maxIdleConnectionsPerBackend, maxIdleTime: TimeAmount(configuration.maxIdleTime))
        self.slots = ConnectionSlots(limit: configuration.maxConnectionsPerBackend)
    }

    /// Closes the idle pooled connections (call at shutdown; in-flight requests finish).
    public func shutdown() { pool.closeAll() }

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
        for (name, value) in request.headers { headers.add(name: name, value: value) }
        if let body = request.body {
            headers.add(name: "Content-Length", value: String(body.count))
        } else if request.method == .POST || request.method == .PUT {
            headers.add(name: "Content-Length", value: "0")
        }
        let head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.target, headers: headers)
        let deadline = NIODeadline.now() + TimeAmount(request.timeout)
        let key = ConnectionPool.Key(isTLS: url.isTLS, host: url.host, port: url.port, caFile: request.caFile)
        let exchange = { (promise: EventLoopPromise<ExchangeResult>) in
            HTTPConnectionHandler.Exchange(promise: promise, maxBytes: request.maxResponseBytes, peer: peer, usesTLS: url.isTLS)
        }
        switch await slots.acquire(key, deadline: deadline, on: group.any()) {
        case .atOnce:
            break
        case .afterWaiting:
            configuration.onWait?(.served)
        case .timedOut:
            configuration.onWait?(.timedOut)
            if Task.isCancelled { throw ToolError(.timeout, "the call to \(peer) was cancelled") }
            throw ToolError(.timeout, "\(peer): all \(slots.limit) connections to it stayed in use for the request's whole time (\(request.timeout.formattedSeconds))")
        }
        // Released when the request ends, or, for a connect the call gave up on, when that
        // connect ends: it runs on up to its timeout and holds a socket meanwhile.
        let place = SlotRelease { [slots] in slots.release(key) }
        defer { place.requestEnded() }

        // A pooled connection may have been closed by the server while idle: a request that
        // saw no byte of answer is sent again on a fresh connection. Other requests never
        // use a pooled connection, so they are sent exactly once (see mayRetry).
        if Self.mayRetry(request.method), let connection = pool.take(key) {
            do throws(ConnectionRunError) {
                return try await run(head, request.body, on: connection, key: key, deadline: deadline, timeout: request.timeout, exchange: exchange)
            } catch {
                // closedBeforeResponse: fall through to a fresh connection
                if case .tool(let error) = error { throw error }
            }
        }
        let connection = try await connect(url, caFile: request.caFile, peer: peer, timeout: request.timeout, deadline: deadline, place: place)
        do throws(ConnectionRunError) {
            return try await run(head, request.body, on: connection, key: key, deadline: deadline, timeout: request.timeout, exchange: exchange)
        } catch {
            switch error {
            case .tool(let error): throw error
            case .closedBeforeResponse: throw ToolError(.unreachable, "\(peer) closed the connection without a response")
            }
        }
    }

    /// Whether a request may be sent a second time after a pooled connection closed
    /// without answering: only the safe methods (RFC 9110 section 9.2.1), which ask the
    /// server to change nothing. A server may act on a write and then close without an
    /// answer, and "idempotent" is not enough: Vikunja creates with PUT.
    static func mayRetry(_ method: HTTPMethod) -> Bool { method == .GET || method == .HEAD }

    /// One exchange on one connection, bounded by the deadline and by task cancellation.
    /// Throws ``ToolError`` or ``ConnectionClosedBeforeResponse``.
    func run(
        _ head: HTTPRequestHead, _ body: [UInt8]?, on connection: ConnectionPool.Connection, key: ConnectionPool.Key,
        deadline: NIODeadline, timeout: Duration, exchange: (EventLoopPromise<ExchangeResult>) -> HTTPConnectionHandler.Exchange
    ) async throws(ConnectionRunError) -> BackendResponse {
        let channel = connection.channel
        let eventLoop = channel.eventLoop
        let promise = eventLoop.makePromise(of: ExchangeResult.self)
        let details = exchange(promise)
        let handler = connection.handler
        let peer = details.peer
        // The deadline is armed before the request leaves, and a deadline already passed
        // (a slow connect) never sends it. The timer and the return to the pool exclude each
        // other: cancelling the timer from here cannot stop one already running on the loop,
        // and it must not close a connection that another request has just taken.
        let settled = Mutex(false)
        let timer = eventLoop.scheduleTask(deadline: deadline) {
            guard settled.withLock({ done in defer { done = true }; return !done }) else { return }
            promise.fail(ToolError(.timeout, "\(peer) did not answer within \(timeout)"))
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        // A call cancelled before its request leaves never sends it: a writing tool must not
        // act once its caller has given up. The cancel's failure is queued on the loop after
        // the start, so the start itself looks at the flag.
        let cancelled = Mutex(false)
        if Task.isCancelled {
            promise.fail(ToolError(.timeout, "the call to \(peer) was cancelled"))
            channel.close(promise: nil)
        } else if NIODeadline.now() >= deadline {
            promise.fail(ToolError(.timeout, "\(peer) did not answer within \(timeout)"))
            channel.close(promise: nil)
        } else {
            eventLoop.execute {
                guard !cancelled.withLock({ $0 }) else { return }
                handler.value.start(head: head, body: body, exchange: details)
            }
        }
        let result: ExchangeResult
        do {
            result = try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                cancelled.withLock { $0 = true }
                promise.fail(ToolError(.timeout, "the call to \(peer) was cancelled"))
                channel.close(promise: nil)
            }
        } catch let error as ToolError {
            channel.close(promise: nil)
            throw .tool(error)
        } catch is ConnectionClosedBeforeResponse {
            throw .closedBeforeResponse
        } catch {
            channel.close(promise: nil)
            throw .tool(ToolError(.internalError, "\(peer): \(error)"))
        }
        let reusable = settled.withLock { done in defer { done = true }; return !done }
        if reusable, result.keepAlive, head.headers["connection"].first?.lowercased() != "close" {
            pool.put(key, connection)
        } else {
            channel.close(promise: nil)
        }
        return result.response
    }

    /// Connects within the connect timeout and what is left before the request's deadline
    /// (a retry after a pooled connection failed has less than the whole timeout), and
    /// gives up at once when the task is cancelled (the tool's own deadline passed): a
    /// backend that drops SYNs would otherwise hold the call's answer for the whole connect.
    func connect(
        _ url: BackendURL, caFile: String?, peer: String, timeout: Duration, deadline: NIODeadline, place: SlotRelease
    ) async throws(ToolError) -> ConnectionPool.Connection {
        let remaining = Duration.nanoseconds(max(0, (deadline - .now()).nanoseconds))
        guard remaining > .zero else { throw ToolError(.timeout, "\(peer) did not answer within \(timeout)") }
        let connectTimeout = min(configuration.connectTimeout, timeout, remaining)
        let tlsProvider = url.isTLS ? tlsHandlerProvider : nil
        // The initializer records each attempt's handler by channel (happy eyeballs may try
        // several addresses): a connection whose TLS handshake fails at once may have torn
        // its pipeline down before connect returns, and its handler still holds the error.
        let handlers = HandlerTable()
        let loop = group.next()
        let bootstrap = ClientBootstrap(group: loop)
            .resolver(resolver.queries(on: loop))
            .connectTimeout(TimeAmount(connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tlsProvider {
                        let handler: any ChannelHandler
                        do {
                            handler = try tlsProvider(url.host, caFile)
                        } catch {
                            throw ToolError(.tls, "TLS setup for \(peer) failed: \(error)")
                        }
                        try sync.addHandler(handler)
                    }
                    let wire = ResponseWireBudget()
                    try sync.addHandler(wire)
                    try sync.addHTTPClientHandlers()
                    let handler = HTTPConnectionHandler(wire: wire)
                    try sync.addHandler(handler)
                    handlers.record(channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        // A call cancelled before its connect starts starts none (it would hold the place).
        if Task.isCancelled { throw ToolError(.timeout, "the call to \(peer) was cancelled before connecting") }
        do {
            let connecting = bootstrap.connect(host: url.host, port: url.port)
            let connected = connecting.eventLoop.makePromise(of: (any Channel).self)
            connecting.whenComplete { result in
                // First: whether the call gave up on this connect (its place is released now)
                // decides, under the place's lock, between handing the channel over and
                // closing it; a cancel after this leaves the place to the request.
                let abandoned = place.connectEnded()
                switch result {
                case .success(let channel):
                    // Connected after the caller gave up: nobody will use it, and the caller
                    // must see the cancel, not a closed channel (whose exchange would then
                    // fail as a backend that closed without answering).
                    if abandoned {
                        channel.close(promise: nil)
                        connected.fail(CancellationError())
                    } else {
                        connected.succeed(channel)
                    }
                case .failure(let error):
                    connected.fail(error)
                }
            }
            let channel = try await withTaskCancellationHandler {
                try await connected.futureResult.get()
            } onCancel: {
                place.abandonConnect()
                connected.fail(CancellationError())
            }
            guard let handler = handlers.handler(of: channel) else {
                channel.close(promise: nil)
                throw ToolError(.internalError, "\(peer): the connection has no HTTP handler")
            }
            return ConnectionPool.Connection(channel: channel, handler: handler)
        } catch let error as ToolError {
            throw error
        } catch is CancellationError {
            throw ToolError(.timeout, "the call to \(peer) was cancelled while connecting")
        } catch ChannelError.connectTimeout {
            throw ToolError(.timeout, "connecting to \(peer) timed out after \(connectTimeout)")
        } catch let error as NIOConnectionError {
            // Its addresses may be stale (a container that came back elsewhere).
            resolver.forget(host: url.host, port: url.port)
            // Errors of the channel initializer (the TLS setup) arrive wrapped per attempt.
            if let inner = error.connectionErrors.lazy.compactMap({ $0.error as? ToolError }).first { throw inner }
            if error.connectionErrors.contains(where: { if case .connectTimeout? = $0.error as? ChannelError { true } else { false } }) {
                throw ToolError(.timeout, "connecting to \(peer) timed out after \(connectTimeout)")
            }
            throw ToolError(.unreachable, "cannot connect to \(peer): \(error)")
        } catch {
            throw ToolError(.unreachable, "cannot connect to \(peer): \(error)")
        }
    }
}

/// The HTTP handler of each connection attempt, by channel.
private final class HandlerTable: Sendable {
    private let table = Mutex<[ObjectIdentifier: NIOLoopBound<HTTPConnectionHandler>]>([:])

    func record(_ channel: any Channel, _ handler: NIOLoopBound<HTTPConnectionHandler>) {
        table.withLock { $0[ObjectIdentifier(channel)] = handler }
    }

    func handler(of channel: any Channel) -> NIOLoopBound<HTTPConnectionHandler>? {
        table.withLock { $0[ObjectIdentifier(channel)] }
    }
}

/// What ``BackendHTTPClient/run`` may throw: a final error, or the keep-alive race.
enum ConnectionRunError: Error {
    case tool(ToolError)
    case closedBeforeResponse
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
