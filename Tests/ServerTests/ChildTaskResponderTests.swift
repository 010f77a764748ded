import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing
@testable import MCPServerKit

/// GETs (SSE streams) run the router in a child task, so that the connection task does not
/// keep the middleware chain's frames for the stream's lifetime (issue 4: RSS per open SSE
/// stream); POSTs run in place.
@Suite struct ChildTaskResponderTests {
    struct Failure: Error, Equatable {}

    /// Records the task it ran in; answers 200 or throws.
    struct Probe: HTTPResponder {
        typealias Context = Int
        final class TaskRecord: Sendable {
            let value = Mutex<Int?>(nil)
        }
        let ranIn = TaskRecord()
        let fails: Bool

        func respond(to request: Request, context: Int) async throws -> Response {
            ranIn.value.withLock { $0 = withUnsafeCurrentTask { $0?.hashValue } }
            if fails { throw Failure() }
            return Response(status: context == 7 ? .ok : .internalServerError)
        }
    }

    private func request(_ method: HTTPRequest.Method = .get) -> Request {
        Request(head: HTTPRequest(method: method, scheme: nil, authority: nil, path: "/"), body: RequestBody(buffer: ByteBuffer()))
    }

    @Test("a GET (maybe an SSE stream) is answered from a task other than the caller's")
    func getRunsInChildTask() async throws {
        let probe = Probe(fails: false)
        let response = try await ChildTaskResponder.streamsOnGET(probe).respond(to: request(.get), context: 7)
        #expect(response.status == .ok)
        let caller = withUnsafeCurrentTask { $0?.hashValue }
        let inner = probe.ranIn.value.withLock { $0 }
        #expect(inner != nil)
        #expect(inner != caller)
    }

    @Test("a POST (the per-request hot path) is answered directly, in the caller's task")
    func postRunsInPlace() async throws {
        let probe = Probe(fails: false)
        let response = try await ChildTaskResponder.streamsOnGET(probe).respond(to: request(.post), context: 7)
        #expect(response.status == .ok)
        let caller = withUnsafeCurrentTask { $0?.hashValue }
        #expect(probe.ranIn.value.withLock { $0 } == caller)
    }

    @Test("an error from the inner responder reaches the caller")
    func errorsPropagate() async {
        await #expect(throws: Failure()) {
            _ = try await ChildTaskResponder.streamsOnGET(Probe(fails: true)).respond(to: request(.get), context: 7)
        }
    }

    /// Waits (at most 5 s) for its task to be cancelled; 499-style answer if it was.
    struct WaitsForCancel: HTTPResponder {
        typealias Context = Int
        func respond(to request: Request, context: Int) async throws -> Response {
            let deadline = ContinuousClock.now + .seconds(5)
            while !Task.isCancelled, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(5))
            }
            return Response(status: Task.isCancelled ? .requestTimeout : .ok)
        }
    }

    @Test("cancelling the caller cancels the inner responder (the client went away)")
    func cancellationIsForwarded() async throws {
        let request = self.request(.get)
        let caller = Task { try await ChildTaskResponder.streamsOnGET(WaitsForCancel()).respond(to: request, context: 0) }
        try await Task.sleep(for: .milliseconds(20))
        caller.cancel()
        #expect(try await caller.value.status == .requestTimeout)
    }
}
