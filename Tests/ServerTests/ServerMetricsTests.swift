import MCPCore
import Prometheus
import TLS
import Testing
@testable import MCPServerKit

/// The cached metric lookups export the Go server's series (reference/seed-interface.md:
/// `mcp_rpc_requests_total{method,transport}`, `mcp_rpc_request_duration_seconds`) and ours
/// (`mcp_http_responses_total{code}`), each child made once and counted across lookups.
@Suite struct ServerMetricsTests {
    func exposition(_ metrics: ServerMetrics) -> String {
        String(decoding: metrics.render(), as: UTF8.self)
    }

    @Test func aRequestsCountAndDurationShareOneLookupAndKeepTheirNames() {
        let metrics = ServerMetrics()
        let observer = MetricsObserver(metrics: metrics)
        observer.requestFinished(method: "tools/call", transport: "streamable_http", duration: .milliseconds(3), errorCode: nil)
        observer.requestFinished(method: "tools/call", transport: "streamable_http", duration: .milliseconds(5), errorCode: nil)
        observer.requestFinished(method: "tools/list", transport: "streamable_http", duration: .milliseconds(1), errorCode: -32602)
        let text = exposition(metrics)
        #expect(text.contains(#"mcp_rpc_requests_total{method="tools/call",transport="streamable_http"} 2"#))
        #expect(text.contains(#"mcp_rpc_requests_total{method="tools/list",transport="streamable_http"} 1"#))
        #expect(text.contains(#"mcp_rpc_request_duration_seconds_count{method="tools/call",transport="streamable_http"} 2"#))
        #expect(text.contains(#"mcp_rpc_request_duration_seconds_sum{method="tools/call",transport="streamable_http"} 0.008"#))
        #expect(text.contains(#"mcp_rpc_errors_total{method="tools/list",error_code="-32602",transport="streamable_http"} 1"#))
        // The same children as the general accessors give.
        metrics.counter(.rpcRequests, "tools/call", "streamable_http").increment()
        #expect(exposition(metrics).contains(#"mcp_rpc_requests_total{method="tools/call",transport="streamable_http"} 3"#))
    }

    @Test func responsesAreCountedByStatusNumber() {
        let metrics = ServerMetrics()
        metrics.responses(status: 404).increment()
        metrics.responses(status: 404).increment()
        metrics.responses(status: 200).increment()
        metrics.counter(.httpResponses, "404").increment()
        let text = exposition(metrics)
        #expect(text.contains(#"mcp_http_responses_total{code="404"} 3"#))
        #expect(text.contains(#"mcp_http_responses_total{code="200"} 1"#))
    }

    /// Both series exist from the start (a dashboard's rate() needs the zero), one child each.
    @Test func tlsBackpressureIsCountedByEvent() {
        let metrics = ServerMetrics()
        let observer = TLSMetrics(metrics: metrics)
        var text = exposition(metrics)
        #expect(text.contains(#"mcp_tls_backpressure_total{event="reads_paused"} 0"#))
        #expect(text.contains(#"mcp_tls_backpressure_total{event="closed"} 0"#))
        observer.backpressure(.readsPaused)
        observer.backpressure(.readsPaused)
        observer.backpressure(.closed)
        text = exposition(metrics)
        #expect(text.contains(#"mcp_tls_backpressure_total{event="reads_paused"} 2"#))
        #expect(text.contains(#"mcp_tls_backpressure_total{event="closed"} 1"#))
    }
}
