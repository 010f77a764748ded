import Foundation
import MCPCore
import NIOHTTP1
import Testing
@testable import Tools

/// Not a correctness test: run by bench/tools/bench.sh (TOOLS_BENCH=1). Measures what the
/// tool layer adds over a bare HTTP request to the same Prometheus: the same query, A/B
/// interleaved so both see the same machine load, and prints the percentiles.
@Suite(.serialized) struct ToolsBenchmark {
    static var iterations: Int { Int(ProcessInfo.processInfo.environment["TOOLS_BENCH_N"] ?? "") ?? 2000 }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["TOOLS_BENCH"] == "1"), .timeLimit(.minutes(5)))
    func toolCallVersusDirectQuery() async throws {
        let executable = try #require(PrometheusProcess.executable, "prometheus is not installed")
        let prometheus = try await PrometheusProcess(executable: executable)
        defer { prometheus.stop() }
        let url = try BackendURL(parsing: "http://127.0.0.1:\(prometheus.port)")
        let client = BackendHTTPClient()
        let tools = ToolCatalogue.makeTools(CatalogueSettings(prometheus: BackendSettings(url: url.description)), client: client)
        let tool = try #require(tools.first { $0.name == "prometheus_query" })
        let arguments = ToolArguments(["query": "up"])
        let context = ToolContext(toolName: "prometheus_query")
        let request = BackendRequest(method: .GET, url: url, path: "/api/v1/query", query: [("query", "up")])

        var ready = false
        for _ in 0..<80 where !ready {
            ready = ((try? await client.execute(BackendRequest(method: .GET, url: url, path: "/-/ready")))?.status == 200)
            if !ready { try await Task.sleep(for: .milliseconds(250)) }
        }
        try #require(ready)
        try await Task.sleep(for: .seconds(2))  // a few self-scrapes, so `up` has a sample

        // The same call as a JSON-RPC tools/call through MCPCore's dispatcher (what every
        // transport runs; the HTTP server adds its own parsing on top).
        let harness = DispatcherIntegrationTests.Harness(tools)
        await harness.initialize()
        let rpc = Array(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"prometheus_query","arguments":{"query":"up"}}}"#.utf8)

        let clock = ContinuousClock()
        var direct: [Duration] = []
        var viaTool: [Duration] = []
        var viaDispatcher: [Duration] = []
        for i in 0..<(Self.iterations + 100) {
            let t0 = clock.now
            let response = try await client.execute(request)
            let t1 = clock.now
            let result = try await tool.handler(arguments, context)
            let t2 = clock.now
            let answer = await harness.dispatcher.handle(bytes: rpc, session: harness.session, outbound: DiscardingOutbound())
            let t3 = clock.now
            #expect(response.status == 200 && !result.isError && answer != nil)
            if i >= 100 {  // warm-up excluded
                direct.append(t1 - t0)
                viaTool.append(t2 - t1)
                viaDispatcher.append(t3 - t2)
            }
        }
        func stats(_ samples: [Duration]) -> String {
            let sorted = samples.sorted()
            func p(_ q: Double) -> String {
                let d = sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
                return String(format: "%.1f", Double(d.components.attoseconds) / 1e12 + Double(d.components.seconds) * 1e6)
            }
            return "p50 \(p(0.5)) µs  p90 \(p(0.9)) µs  p99 \(p(0.99)) µs"
        }
        print("BENCH n=\(viaDispatcher.count) tools/call JSON-RPC bytes through MCPDispatcher: \(stats(viaDispatcher))")
        let medianDispatcher = viaDispatcher.sorted()[viaDispatcher.count / 2]
        let medianDirect = direct.sorted()[direct.count / 2]
        let viaRPC = medianDispatcher - medianDirect
        print("BENCH added by dispatcher + tool at the median: \(Double(viaRPC.components.attoseconds) / 1e12 + Double(viaRPC.components.seconds) * 1e6) µs")
        let medianTool = viaTool.sorted()[viaTool.count / 2]
        print("BENCH n=\(direct.count) direct GET /api/v1/query (pooled keep-alive connection): \(stats(direct))")
        print("BENCH n=\(viaTool.count) prometheus_query tool (same + JSON parse/serialize): \(stats(viaTool))")
        let added = medianTool - medianDirect
        print("BENCH added by the tool layer at the median: \(Double(added.components.attoseconds) / 1e12 + Double(added.components.seconds) * 1e6) µs")
    }
}
