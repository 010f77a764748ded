import Foundation
import Prometheus
import Synchronization

/// `/ready`: false while starting and while draining for shutdown.
public final class Readiness: Sendable {
    public enum Phase: String, Sendable { case starting, ready, draining }
    private let phase = Mutex(Phase.starting)
    public init() {}
    public var current: Phase { phase.withLock { $0 } }
    /// Phases only move forward: a listener that finishes binding after shutdown began (a
    /// SIGTERM during start-up) must not make a draining server ready again.
    public func set(_ value: Phase) {
        phase.withLock { phase in
            if Self.order(value) > Self.order(phase) { phase = value }
        }
    }

    private static func order(_ phase: Phase) -> Int {
        switch phase {
        case .starting: 0
        case .ready: 1
        case .draining: 2
        }
    }
}
