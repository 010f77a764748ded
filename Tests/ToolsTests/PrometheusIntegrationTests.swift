import Foundation
import MCPCore
import NIOCore
import NIOPosix
import Testing
@testable import Tools

/// A real Prometheus (Debian's package) on a loopback port, scraping itself.
final class PrometheusProcess {
    let port: Int
    let process: Process
    let directory: URL

    static var executable: String? {
        ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init(executable: String) async throws {
        port = try await Self.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("prom-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: prometheus
                static_configs:
                  - targets: ['127.0.0.1:\(port)']
            """
        let configURL = directory.appendingPathComponent("prometheus.yml")
        try config.write(to: configURL, atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--config.file=\(configURL.path)", "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=error",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Binds port 0 on loopback, reads the port, closes: a port that was free just now.
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }
}

@Suite(.serialized) struct PrometheusIntegrationTests {
    /// Every prometheus_* tool against the real server, then bad PromQL, a timeout and an
    /// unreachable server. One Prometheus for the whole test (started, waited for, killed).
    @Test(.timeLimit(.minutes(2)))
    func everyPrometheusToolAgainstARealServer() async throws {
        guard let executable = PrometheusProcess.executable else {
            Issue.record("prometheus is not installed (apt-get install -y prometheus)")
            return
        }
        let prometheus = try await PrometheusProcess(executable: executable)
        defer { prometheus.stop() }
        let url = "http://127.0.0.1:\(prometheus.port)"
        let settings = CatalogueSettings(prometheus: BackendSettings(url: url), httpTimeout: .seconds(5))
        let tools = ToolCatalogue.makeTools(settings, client: testClient)

        // Ready (bounded: 60 × 250 ms), then at least one scrape of itself (bounded: 60 × 250 ms).
        var ready = false
        for _ in 0..<60 where !ready {
            ready = await call(tools, "prometheus_health").result?.structuredContent?["ready"] == true
            if !ready { try await Task.sleep(for: .milliseconds(250)) }
        }
        try #require(ready, "Prometheus did not become ready in 15 s")
        var scraped = false
        for _ in 0..<60 where !scraped {
            scraped = (await call(tools, "prometheus_query", ["query": "up"]).json?["data"]?["result"]?.arrayValue?.isEmpty == false)
            if !scraped { try await Task.sleep(for: .milliseconds(250)) }
        }
        try #require(scraped, "Prometheus did not scrape itself in 15 s")

        let query = await call(tools, "prometheus_query", ["query": "up", "time": "now"])
        #expect(query.json?["status"] == "success")
        #expect(query.json?["data"]?["resultType"] == "vector")
        #expect(query.json?["data"]?["result"]?[0]?["metric"]?["job"] == "prometheus")
        #expect(query.result?.structuredContent?["status"] == "success")

        let range = await call(tools, "prometheus_query_range", ["query": "up", "start": "2m", "step": "1s"])
        #expect(range.json?["data"]?["resultType"] == "matrix")
        #expect((range.json?["data"]?["result"]?[0]?["values"]?.arrayValue?.count ?? 0) >= 1)

        #expect(await call(tools, "prometheus_list_label_names").json?["data"]?.arrayValue?.contains("job") == true)
        #expect(await call(tools, "prometheus_list_label_values", ["label": "job"]).json?["data"] == ["prometheus"])
        #expect(await call(tools, "prometheus_find_series", ["match": "up", "lookback": "10m"]).json?["data"]?[0]?["__name__"] == "up")
        #expect(await call(tools, "prometheus_list_targets").json?["data"]?["activeTargets"]?[0]?["health"] == "up")
        #expect(await call(tools, "prometheus_get_metadata", ["metric": "up"]).json?["status"] == "success")
        #expect(await call(tools, "prometheus_get_metadata").json?["status"] == "success")
        #expect(await call(tools, "prometheus_list_alerts").json?["data"]?["alerts"] == [])
        #expect(await call(tools, "prometheus_list_rules").json?["data"]?["groups"] == [])
        #expect(await call(tools, "prometheus_build_info").json?["data"]?["version"]?.stringValue?.isEmpty == false)
        let health = await call(tools, "prometheus_health").result?.structuredContent
        #expect(health?["healthy"] == true && health?["ready"] == true)

        // Bad PromQL: Prometheus answers 400 bad_data; the error keeps its explanation.
        let bad = await call(tools, "prometheus_query", ["query": "up{"]).error
        #expect(bad?.kind == .backendStatus)
        #expect(bad?.message.hasPrefix("prometheus returned HTTP 400") == true)
        #expect(bad?.message.contains("parse error") == true)
        // A bad relative time never reaches Prometheus.
        #expect(await call(tools, "prometheus_query_range", ["query": "up", "start": "last tuesday"]).error?.kind == .invalidArgument)

        // A deadline shorter than any round trip: timeout, not a hang.
        let hurried = ToolCatalogue.makeTools(
            CatalogueSettings(prometheus: BackendSettings(url: url), httpTimeout: .microseconds(1)), client: testClient)
        let hurriedError = await call(hurried, "prometheus_query_range", ["query": "up", "start": "1h", "step": "1s"]).error
        #expect(hurriedError?.kind == .timeout, "\(hurriedError?.message ?? "no error")")

        prometheus.stop()
        let down = await call(tools, "prometheus_query", ["query": "up"]).error
        #expect(down?.kind == .unreachable)
    }
}
