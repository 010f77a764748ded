import MCPCore
import Testing
@testable import MCPServerKit

/// `limits.max_inflight_per_token` (429, the client's own doing) and `limits.max_inflight`
/// (503, overload), each at its exact edge, with the running count and the refusals exported.
@Suite struct ToolCallAdmissionTests {
    /// Admits a call of `caller`'s, and returns what ends it; nil if refused.
    func admit(_ admission: ToolCallAdmission, _ caller: String) -> (@Sendable () -> Void)? {
        if case .admitted = admission.admit(caller: caller, tool: "t", requestBytes: 0) { { admission.release(caller: caller, requestBytes: 0) } } else { nil }
    }

    func status(_ decision: CallAdmissionDecision) -> Int? {
        if case .refused(_, let status, _) = decision { status } else { nil }
    }

    @Test func perTokenThenGlobalCapsAreCountedAndReleased() throws {
        let metrics = ServerMetrics()
        let admission = ToolCallAdmission(maxInFlightPerToken: 2, globalMaximum: 3, toolRate: nil, metrics: metrics)
        let a1 = try #require(admit(admission, "a"))
        let a2 = try #require(admit(admission, "a"))
        #expect(status(admission.admit(caller: "a", tool: "t", requestBytes: 0)) == 429)
        let b1 = try #require(admit(admission, "b"))
        #expect(status(admission.admit(caller: "b", tool: "t", requestBytes: 0)) == 503, "three in flight: the global cap")
        var text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("mcp_inflight_calls 3"))
        #expect(text.contains("mcp_inflight_calls_max 3"))
        #expect(text.contains(#"mcp_inflight_calls_rejected_total{reason="per_key"} 1"#))
        #expect(text.contains(#"mcp_inflight_calls_rejected_total{reason="global"} 1"#))
        a1()
        let b2 = try #require(admit(admission, "b"), "a slot came back")
        for done in [a2, b1, b2] { done() }
        text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("mcp_inflight_calls 0"))
    }

    /// A call refused at the in-flight cap does not spend the tool rate (it used to be charged
    /// first, so a token at its cap ran out of rate on calls that never ran); a call the rate
    /// refuses gives its in-flight slot back.
    @Test func aCallRefusedInFlightCostsNoRate() throws {
        let metrics = ServerMetrics()
        let rate = try #require(SharedRateLimiter(name: "tool", ratePerSecond: 0.001, burst: 2, capacity: 16, metrics: metrics))
        let admission = ToolCallAdmission(maxInFlightPerToken: 1, globalMaximum: 8, toolRate: rate, metrics: metrics)
        let first = try #require(admit(admission, "a"))
        let refused = admission.admit(caller: "a", tool: "t", requestBytes: 0)
        guard case .refused(let message, 429, _) = refused else {
            Issue.record("not refused at the in-flight cap: \(refused)")
            return
        }
        #expect(message.contains("in flight"))
        first()
        let second = try #require(admit(admission, "a"), "the refused call left the rate's second token")
        second()
        let overRate = admission.admit(caller: "a", tool: "t", requestBytes: 0)
        guard case .refused(let rateMessage, 429, _) = overRate else {
            Issue.record("not refused by the rate: \(overRate)")
            return
        }
        #expect(rateMessage.contains("Rate limit"))
        #expect(String(decoding: metrics.render(), as: UTF8.self).contains("mcp_inflight_calls 0"), "the rate's refusal gave its slot back")
    }
}

/// `limits.max_inflight_request_bytes`: the requests of the calls running share one budget.
@Suite struct InflightRequestBytesTests {
    /// Past the budget a call is refused (503, counted as `request_bytes`) and leaves no slot
    /// taken; the bytes come back when a call ends; a call larger than the whole budget runs
    /// when no other holds any.
    @Test func callsPastTheBudgetAreRefusedUntilOthersEnd() throws {
        let metrics = ServerMetrics()
        let admission = ToolCallAdmission(maxInFlightPerToken: 8, globalMaximum: 8, maxRequestBytes: 1000, toolRate: nil, metrics: metrics)
        func status(_ decision: CallAdmissionDecision) -> Int? {
            if case .refused(_, let status, _) = decision { status } else { nil }
        }
        #expect(status(admission.admit(caller: "a", tool: "t", requestBytes: 600)) == nil)
        #expect(status(admission.admit(caller: "b", tool: "t", requestBytes: 400)) == nil, "exactly the budget")
        guard case .refused(let message, 503, _) = admission.admit(caller: "b", tool: "t", requestBytes: 1) else {
            Issue.record("a byte past the budget was admitted")
            return
        }
        #expect(message.contains("request data"))
        var text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("mcp_inflight_request_bytes 1000.0\n"))
        #expect(text.contains("mcp_inflight_request_bytes_max 1000.0\n"))
        #expect(text.contains(#"mcp_inflight_calls_rejected_total{reason="request_bytes"} 1"#))
        #expect(text.contains("mcp_inflight_calls 2.0\n"), "the refused call gave its slot back")
        admission.release(caller: "a", requestBytes: 600)
        #expect(status(admission.admit(caller: "b", tool: "t", requestBytes: 600)) == nil, "the first call's bytes came back")
        admission.release(caller: "b", requestBytes: 400)
        admission.release(caller: "b", requestBytes: 600)
        #expect(status(admission.admit(caller: "c", tool: "t", requestBytes: 5000)) == nil, "alone, a call larger than the budget runs")
        #expect(status(admission.admit(caller: "c", tool: "t", requestBytes: 1)) == 503)
        admission.release(caller: "c", requestBytes: 5000)
        text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("mcp_inflight_request_bytes 0.0\n"))
        #expect(text.contains("mcp_inflight_calls 0.0\n"))
    }

    /// A call the tool rate refuses gives back the bytes it was charged with, as its slot.
    @Test func aCallTheRateRefusesGivesItsBytesBack() throws {
        let metrics = ServerMetrics()
        let rate = try #require(SharedRateLimiter(name: "tool", ratePerSecond: 0.001, burst: 1, capacity: 16, metrics: metrics))
        let admission = ToolCallAdmission(maxInFlightPerToken: 8, globalMaximum: 8, maxRequestBytes: 1000, toolRate: rate, metrics: metrics)
        guard case .admitted = admission.admit(caller: "a", tool: "t", requestBytes: 700) else {
            Issue.record("the first call was refused")
            return
        }
        guard case .refused(let message, 429, _) = admission.admit(caller: "a", tool: "t", requestBytes: 200) else {
            Issue.record("the rate did not refuse the second call")
            return
        }
        #expect(message.contains("Rate limit"))
        admission.release(caller: "a", requestBytes: 700)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("mcp_inflight_request_bytes 0.0\n"))
        #expect(text.contains("mcp_inflight_calls 0.0\n"))
    }
}
