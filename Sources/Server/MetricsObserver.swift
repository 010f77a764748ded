import Foundation
import Prometheus
import MCPCore

/// Feeds the dispatcher's events into the Go server's metric families.
public struct MetricsObserver: MCPObserver {
    let metrics: ServerMetrics

    /// Every cap's counter exists from the start, at 0: an alert on its rate needs a series.
    public init(metrics: ServerMetrics) {
        self.metrics = metrics
        for cap in InputCap.allCases { _ = metrics.counter(.inputRefused, cap.rawValue) }
    }

    public func requestFinished(method: String, transport: String, duration: Duration, errorCode: Int?) {
        let request = metrics.request(method: method, transport: transport)
        request.count.increment()
        request.duration.record(duration)
        if let errorCode {
            metrics.counter(.rpcErrors, method, String(errorCode), transport).increment()
        }
    }

    public func toolCallFinished(tool: String, outcome: ToolCallOutcome, duration: Duration) {
        metrics.counter(.toolCalls, tool, outcome.rawValue).increment()
        if outcome == .timeout { metrics.counter(.timeouts, "tool").increment() }
    }

    public func toolLimitReached(tool: String, limit: ToolLimit) {
        metrics.counter(.toolLimits, tool, limit.rawValue).increment()
    }

    public func inputRefused(at cap: InputCap) {
        metrics.counter(.inputRefused, cap.rawValue).increment()
    }
}
