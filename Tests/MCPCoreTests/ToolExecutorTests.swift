import Dispatch
import Testing
@testable import MCPCore

/// A tool's task runs where its request runs: on `MCPDispatcher.requestExecutor` when the
/// transport sets it (the HTTP server: the connection's event loop), else on the global pool.
@Suite struct ToolExecutorTests {
    /// A task executor on a queue of its own; a job knows it runs there by the queue's key.
    final class QueueExecutor: TaskExecutor {
        static let key = DispatchSpecificKey<Bool>()
        let queue = DispatchQueue(label: "tool-executor-test")
        init() { queue.setSpecific(key: Self.key, value: true) }
        func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        }
        static var isCurrent: Bool { DispatchQueue.getSpecific(key: key) == true }
    }

    static let whereAmI = ToolDefinition(name: "where", description: "Where the handler runs.", annotations: .readOnly) { _, _ in
        let before = QueueExecutor.isCurrent
        await Task.yield()  // a suspension: the handler resumes on its task's executor again
        return .text("\(before) \(QueueExecutor.isCurrent)")
    }

    func place(with executor: (any TaskExecutor)?) async -> String? {
        let h = Harness(tools: [Self.whereAmI])
        await h.initialize()
        let call = { await h.request("tools/call", params: ["name": "where"]) }
        let response = if let executor { await MCPDispatcher.$requestExecutor.withValue(executor) { await call() } } else { await call() }
        return response?["result"]?["content"]?[0]?["text"]?.stringValue
    }

    @Test("a tool call runs on the request's preferred executor, before and after a suspension")
    func onPreferredExecutor() async {
        #expect(await place(with: QueueExecutor()) == "true true")
    }

    @Test("without one, a tool call runs on the global pool")
    func onGlobalPool() async {
        #expect(await place(with: nil) == "false false")
    }
}
