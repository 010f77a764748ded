import Foundation
import Prometheus
import MCPCore

/// Feeds the dispatcher's events into the Go server's metric families.
public struct MetricsObserver: MCPObserver {
    let metrics: ServerMetrics

    public init(metrics: ServerMetrics) { self.metrics = metrics }

    public func requestFinished(method: String, transport: String, duration: Duration, errorCode: Int?) {
        metrics.counter(.rpcRequests, method, transport).increment()
        metrics.histogram(.rpcDuration, method, transport).record(duration)
        if let errorCode {
            metrics.counter(.rpcErrors, method, String(errorCode), transport).increment()
        }
    }

    public func toolCallFinished(tool: String, outcome: ToolCallOutcome, duration: Duration) {
        metrics.counter(.toolCalls, tool, outcome.rawValue).increment()
        if outcome == .timeout { metrics.counter(.timeouts, "tool").increment() }
    }
}
