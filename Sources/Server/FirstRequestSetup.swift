import NIOCore

/// Puts off a connection's HTTP layer until its first request byte arrives, so that a
/// connection which only shakes hands, or waits before its first request, holds no HTTP codec
/// handlers and no request state, and never wakes the concurrency pool (why
/// Hummingbird's own server could not do this: `PublicListener`). The header deadline, armed
/// by `RawRequestStartHandler` below this handler, still bounds the wait.
///
/// On the first read the HTTP layer is installed after this handler, the read (and anything
/// that arrived while installing) is passed on into it, the set-up future completes, and
/// this handler leaves the pipeline. Before that, the end of the client's input, an error or
/// a request to quiesce closes the connection: there is nothing to finish.
final class FirstRequestSetup<Value: Sendable>: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    /// Installs the HTTP handlers (after this one) and returns the connection's value.
    typealias Install = (any Channel) -> EventLoopFuture<Value>

    /// Why a connection never got its HTTP layer.
    struct ClosedBeforeRequest: Error {}

    /// What arrived while the HTTP layer was being installed, replayed into it in order.
    private enum Held {
        case read(NIOAny)
        case readComplete
        case event(Any)
        case error(any Error)
    }

    private enum State {
        case waiting(Install)
        case installing([Held])
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
        case .installing:
            hold(.read(data))
        case .waiting(let install):
            state = .installing([.read(data)])
            // The HTTP layer's set-up completes synchronously, so this normally runs inline.
            install(context.channel).hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                self.installed(result, context: context)
            }
        }
    }

    private func hold(_ held: Held) {
        guard case .installing(var pending) = state else { return }
        pending.append(held)
        state = .installing(pending)
    }

    /// What was held is replayed as it came; a read completion not yet seen passes through
    /// later, once this handler forwards (firing one here would end the read in the middle,
    /// before the rest of its TLS records).
    private func installed(_ result: Result<Value, any Error>, context: ChannelHandlerContext) {
        guard case .installing(let pending) = state else { return }
        state = .done
        switch result {
        case .success(let value):
            for held in pending {
                switch held {
                case .read(let data): context.fireChannelRead(data)
                case .readComplete: context.fireChannelReadComplete()
                case .event(let event): context.fireUserInboundEventTriggered(event)
                case .error(let error): context.fireErrorCaught(error)
                }
            }
            promise.succeed(value)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        case .failure(let error):
            promise.fail(error)
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        switch state {
        case .done: context.fireChannelReadComplete()
        case .installing: hold(.readComplete)
        case .waiting: break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch state {
        case .done:
            context.fireUserInboundEventTriggered(event)
        case .installing:
            hold(.event(event))
        case .waiting:
            // Graceful shutdown, or the client's end of input: nothing to finish.
            if event is ChannelShouldQuiesceEvent || (event as? ChannelEvent) == .inputClosed {
                context.close(promise: nil)
                return
            }
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .done:
            context.fireErrorCaught(error)
        case .installing:
            hold(.error(error))
        case .waiting:
            // Before the HTTP layer exists nothing else would act on an error: close.
            context.close(promise: nil)
            context.fireErrorCaught(error)
        }
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
