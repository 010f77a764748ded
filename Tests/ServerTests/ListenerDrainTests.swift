import Synchronization
import Testing
@testable import MCPServerKit

/// Graceful shutdown stops every public listener at once (README "Graceful shutdown").
@Suite struct ListenerDrainTests {
    @Test("start runs every registered stop once; one registered after the start runs at once")
    func startRunsEveryStop() {
        let drain = ListenerDrain()
        let runs = Mutex<[String]>([])
        drain.register { runs.withLock { $0.append("a") } }
        drain.register { runs.withLock { $0.append("b") } }
        #expect(runs.withLock { $0 }.isEmpty)
        drain.start()
        #expect(runs.withLock { $0 } == ["a", "b"])
        drain.register { runs.withLock { $0.append("late") } }
        drain.start()
        #expect(runs.withLock { $0 } == ["a", "b", "late"])
    }
}
