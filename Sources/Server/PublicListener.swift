import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The public listener: accepts connections on one port and serves them with the public
/// child channel (admission, TLS, deadlines, HTTP/1 and the routes).
///
/// Hummingbird's `Server` hands every accepted connection to an async sequence and gives it a
/// task in its task group the moment its set-up completes, and NIO registers a connection
/// only once that set-up has completed. So each connection, even one that never sends a
/// request, crossed to the concurrency pool and back when it opened and again when it closed
/// (≈ 150 µs of CPU per connection here, mostly those thread wake-ups), and kept a task and
/// an `NIOAsyncChannel` while it lived. This listener registers connections at once, installs
/// the HTTP layer at a connection's first request byte (`FirstRequestSetup`) and gives each
/// request a task of its own (`RequestDispatcher`); `Request` and `Response` are Hummingbird's,
/// the routes ours (`PublicRoutes`).
///
/// Graceful shutdown as in Hummingbird: stop accepting, ask every connection to quiesce
/// (idle ones close, busy ones close after their response), wait for them to close and for
/// their request tasks to return; when the grace period is over, close them and cancel the
/// tasks.
struct PublicListener: Service, CustomStringConvertible {
    let host: String
    let port: Int
    let child: PublicChildChannel
    let group: any EventLoopGroup
    let logger: Logger
    /// Graceful shutdown's start for every public listener at once (nil: this listener's own
    /// shutdown signal alone, as the ops listener, which serves `/metrics` through the drain).
    var drain: ListenerDrain? = nil
    /// `limits.send_timeout`: set once on the listening socket, whose accepted connections
    /// inherit it (Linux copies the listener's TCP state into each), so it costs no system
    /// call per connection.
    var sendTimeout: Duration? = nil
    /// `limits.listen_backlog`.
    var backlog = 256
    let onRunning: @Sendable (Int) async -> Void

    var description: String { "PublicListener(\(host):\(port))" }

    #if os(Linux)
    /// TCP_USER_TIMEOUT (RFC 5482's user timeout, Linux `tcp(7)`), in milliseconds.
    static let userTimeoutOption: ChannelOptions.Types.SocketOption? = ChannelOptions.tcpOption(.init(rawValue: CInt(TCP_USER_TIMEOUT)))
    #else
    static let userTimeoutOption: ChannelOptions.Types.SocketOption? = nil
    #endif

    func run() async throws {
        let connections = OpenConnections()
        let executors = EventLoopTaskExecutors(group: group)
        let child = self.child
        let logger = self.logger
        var bootstrap = ServerBootstrap(group: group)
        #if os(Linux)
        if let sendTimeout, let option = Self.userTimeoutOption {
            let milliseconds = sendTimeout.components.seconds * 1000 + sendTimeout.components.attoseconds / 1_000_000_000_000_000
            bootstrap = bootstrap.serverChannelOption(option, value: SocketOptionValue(clamping: milliseconds))
        }
        #endif
        let server = try await bootstrap
            .serverChannelOption(ChannelOptions.backlog, value: Int32(clamping: backlog))
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            // One accept per readiness event, as nginx does by default (`multi_accept off`): the
            // listening socket is level-triggered, so a backlog is drained over the next loop
            // ticks, and a lone connection costs one accept4, not a second that sees EAGAIN.
            .serverChannelOption(ChannelOptions.maxMessagesPerRead, value: 1)
            .serverChannelInitializer { channel in
                // Accept errors such as EMFILE pause accepting for a moment instead of spinning.
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler()) }
            }
            .childChannelInitializer { channel in
                let watch = ConnectionWatch()
                do {
                    // Set here, not as a `childChannelOption`: the bootstrap applies those through
                    // a chain of futures on every accepted connection (1 % of a new TLS
                    // connection's CPU in the profile, for this one flag).
                    try channel.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                    _ = try child.prepare(channel: channel, watch: watch, logger: logger) { loop in
                        let executor = executors.executor(for: loop)
                        return ({ body in connections.run(on: executor, body) }, executor?.flusher)
                    }
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                connections.insert(channel, watch: watch)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: host, port: port).get()

        await onRunning(server.localAddress?.port ?? port)
        // Stops accepting and asks the connections to quiesce, once: at the shared drain's
        // start or at this service's own signal, whichever comes first.
        let stopped = Atomic(false)
        let stop: @Sendable () -> Void = {
            guard !stopped.exchange(true, ordering: .relaxed) else { return }
            // Quiesced once the socket is closed: a connection accepted meanwhile is set up
            // (and inserted) before that, so it is asked to quiesce too.
            server.close().whenComplete { _ in connections.quiesce() }
        }
        drain?.register(stop)
        // Returns at graceful shutdown; throws if the service is cancelled instead.
        let graceful = (try? await gracefulShutdown()) != nil
        if graceful {
            stop()
        } else {
            try? await server.close()
            connections.closeAll()
        }
        // Cancellation (the shutdown grace is over) closes what is left and cancels its tasks.
        await withTaskCancellationHandler {
            await connections.waitUntilEmpty()
        } onCancel: {
            connections.closeAll()
        }
    }
}
