import MCPCore
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing
@testable import MCPServerKit

/// Requests run on their connection's event loop (``EventLoopTaskExecutor``): a task that
/// prefers it stays there through nonisolated async calls and real suspensions.
@Suite struct EventLoopTaskExecutorTests {
    /// A nonisolated async function: without a task executor preference it runs on the pool.
    nonisolated static func elsewhere(_ loop: any EventLoop) async -> Bool { loop.inEventLoop }

    @Test("a task preferring a loop's executor runs on that loop from start to end")
    func staysOnLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let executor = EventLoopTaskExecutor(eventLoop: loop)
        let seen = await Task(executorPreference: executor) {
            var seen = [loop.inEventLoop, await Self.elsewhere(loop)]
            try? await Task.sleep(for: .milliseconds(2))  // resumed by a timer on another thread
            seen.append(loop.inEventLoop)
            // A future completed elsewhere resumes the task on the loop too.
            let promise = loop.makePromise(of: Int.self)
            Task.detached { promise.succeed(1) }
            _ = try? await promise.futureResult.get()
            seen.append(loop.inEventLoop)
            return seen
        }.value
        #expect(seen == [true, true, true, true])
        // Without the preference the same calls run on the pool.
        #expect(await Task { await Self.elsewhere(loop) }.value == false)
        try await group.shutdownGracefully()
    }

    @Test("one executor per loop of the group, the same at every lookup (the runtime runs a task's calls inline only on the same executor); none for a loop outside it")
    func onePerLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let other = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let executors = EventLoopTaskExecutors(group: group)
        let (a, b) = (group.next(), group.next())
        let executorA = try #require(executors.executor(for: a))
        #expect(executorA === executors.executor(for: a))
        #expect(executorA.eventLoop === a)
        #expect(try #require(executors.executor(for: b)) !== executorA)
        #expect(executors.executor(for: other.next()) == nil)
        try await group.shutdownGracefully()
        try await other.shutdownGracefully()
    }
}

/// Work a request starts in unstructured tasks runs where the request runs
/// (`MCPDispatcher.requestExecutor`): here, the task that a closing connection cancels.
@Suite struct RequestExecutorInheritanceTests {
    @Test("ConnectionWatch runs a request's work on the request's executor")
    func whileConnectedStaysOnLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let executor = EventLoopTaskExecutor(eventLoop: loop)
        let watch = ConnectionWatch()
        let onLoop = await Task(executorPreference: executor) {
            await MCPDispatcher.$requestExecutor.withValue(executor) {
                await watch.whileConnected { loop.inEventLoop }
            }
        }.value
        #expect(onLoop)
        // Without it, the work runs on the pool.
        #expect(await watch.whileConnected { loop.inEventLoop } == false)
        try await group.shutdownGracefully()
    }
}
