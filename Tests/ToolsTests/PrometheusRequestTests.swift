import MCPCore
import Testing
@testable import Tools

/// What the prometheus tools send (HTTP API v1), seen by a recording fake: relative times
/// resolved against the clock, Prometheus' own evaluation timeout, and auth.
@Suite struct PrometheusRequestTests {
    @Test func rangeQueryResolvesRelativeTimesAndSetsTheEvaluationTimeout() async throws {
        let fake = try await FakeBackend.start { _ in .json(#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#) }
        let tools = tools(CatalogueSettings(prometheus: BackendSettings(url: fake.url), httpTimeout: .seconds(7)))
        _ = await call(tools, "prometheus_query_range", ["query": "rate(x[5m])", "start": "1h", "end": "now-5m", "step": "30s"])
        let query = fake.last?.query ?? ""
        #expect(fake.last?.path == "/api/v1/query_range")
        #expect(queryValue(query, "query") == "rate(x[5m])")
        #expect(queryValue(query, "start") == "1767222000.000")
        #expect(queryValue(query, "end") == "1767225300.000")
        #expect(queryValue(query, "step") == "30s")
        #expect(queryValue(query, "timeout") == "7s")
        #expect(fake.last?.header("Authorization") == nil)

        _ = await call(tools, "prometheus_find_series", ["match": "up{job=\"a b\"}", "lookback": "2h"])
        let series = fake.last?.query ?? ""
        #expect(queryValue(series, "match[]") == "up{job=\"a b\"}")
        #expect(queryValue(series, "start") == "1767218400.000")
        #expect(queryValue(series, "end") == "1767225600.000")
        await fake.stop()
    }

    /// A lookback before 1970 used to trap in `PrometheusTime.format` and stop the server.
    @Test(arguments: ["100y", "999999999999y"])
    func lookbackBeforeTheEpochIsRefused(_ lookback: String) async throws {
        let fake = try await FakeBackend.start { _ in .json(#"{"status":"success","data":[]}"#) }
        let outcome = await call(tools(CatalogueSettings(prometheus: BackendSettings(url: fake.url))), "prometheus_find_series", ["match": "up", "lookback": .string(lookback)])
        #expect(outcome.error == ToolError.invalidArgument("lookback", "reaches back before 1970"))
        #expect(fake.requests.isEmpty)
        await fake.stop()
    }

    /// A `/` followed by a combining mark (U+0301) or after a prepended concatenation mark
    /// (U+0600) is no Character of its own: it must still be refused, as a byte.
    @Test(arguments: [".", "..", "a/b", "../../x", "../\u{301}x", "x\u{600}/.."])
    func dotLabelsAreRefused(_ label: String) async throws {
        let fake = try await FakeBackend.start { _ in .json(#"{"status":"success","data":[]}"#) }
        let outcome = await call(tools(CatalogueSettings(prometheus: BackendSettings(url: fake.url))), "prometheus_list_label_values", ["label": .string(label)])
        #expect(outcome.error == ToolError.invalidArgument("label", "is not a label name"))
        #expect(fake.requests.isEmpty)
        await fake.stop()
    }

    @Test func bearerOrBasicAuth() async throws {
        let fake = try await FakeBackend.start { _ in .json(#"{"status":"success","data":[]}"#) }
        _ = await call(tools(CatalogueSettings(prometheus: BackendSettings(url: fake.url, token: "tok"))), "prometheus_list_label_names")
        #expect(fake.last?.header("Authorization") == "Bearer tok")
        let basic = BackendSettings(url: fake.url, username: "u", password: "p")
        _ = await call(tools(CatalogueSettings(prometheus: basic)), "prometheus_list_label_names")
        #expect(fake.last?.header("Authorization") == "Basic dTpw")
        await fake.stop()
    }
}
