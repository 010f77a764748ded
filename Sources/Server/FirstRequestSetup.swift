import NIOCore

/// Puts off a connection's HTTP layer until its first request byte arrives.
///
/// Hummingbird gives every connection a task (in the server's task group) and an
/// `NIOAsyncChannel` as soon as its set-up future completes. Completing that future at the
/// first decrypted byte instead means that a connection which only shakes hands, or waits
/// before its first request, costs neither: no hop to the concurrency pool and back when it
/// opens or closes, no task frames, no HTTP codec handlers while it waits (nginx likewise
/// allocates a request only when one arrives). A connection that closes before sending
/// anything is dropped by the bootstrap without ever reaching the server's loop; the header
/// deadline, armed by `RawRequestStartHandler` below this handler, still bounds the wait.
///
/// On the first read the HTTP layer is installed after this handler, the read is passed on
/// into it, the set-up future completes, and this handler leaves the pipeline.
final class FirstRequestSetup<Value: Sendable>: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    /// Installs the HTTP handlers (after this one) and returns the connection's value.
    typealias Install = (any Channel) -> EventLoopFuture<Value>

    /// Why a connection never got its HTTP layer.
    struct ClosedBeforeRequest: Error {}

    private enum State {
        case waiting(Install)
        /// Reads that arrived while the install future was pending.
        case installing([NIOAny])
        case done
    }

    private var state: State
    private let promise: EventLoopPromise<Value>

    init(promise: EventLoopPromise<Value>, install: @escaping Install) {
        self.promise = promise
        self.state = .waiting(install)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .done:
            context.fireChannelRead(data)
        case .installing(var pending):
            pending.append(data)
            state = .installing(pending)
        case .waiting(let install):
            state = .installing([data])
            // HTTP1Channel's set-up completes synchronously, so this normally runs inline.
            install(context.channel).hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                self.installed(result, context: context)
            }
        }
    }

    private func installed(_ result: Result<Value, any Error>, context: ChannelHandlerContext) {
        guard case .installing(let pending) = state else { return }
        state = .done
        switch result {
        case .success(let value):
            for data in pending { context.fireChannelRead(data) }
            context.fireChannelReadComplete()
            promise.succeed(value)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        case .failure(let error):
            promise.fail(error)
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .done = state { context.fireChannelReadComplete() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Graceful shutdown, or the client's end of input: a connection with no request yet
        // has nothing to finish.
        if case .waiting = state, event is ChannelShouldQuiesceEvent || (event as? ChannelEvent) == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        giveUp()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        giveUp()
    }

    private func giveUp() {
        switch state {
        case .waiting, .installing:
            state = .done
            promise.fail(ClosedBeforeRequest())
        case .done:
            break
        }
    }
}
