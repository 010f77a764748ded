import Foundation
import Prometheus
import Synchronization

/// `/ready`: false while starting and while draining for shutdown.
public final class Readiness: Sendable {
    public enum Phase: String, Sendable { case starting, ready, draining }
    private let phase = Mutex(Phase.starting)
    public init() {}
    public var current: Phase { phase.withLock { $0 } }
    public func set(_ value: Phase) { phase.withLock { $0 = value } }
}
