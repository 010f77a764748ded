import MCPCore
import Testing
@testable import MCPServerKit

/// `limits.max_inflight_per_token` (429, the client's own doing) and `limits.max_inflight`
/// (503, overload), each at its exact edge, with the running count and the refusals exported.
@Suite struct ToolCallAdmissionTests {
    /// Admits a call of `caller`'s, and returns what ends it; nil if refused.
    func admit(_ admission: ToolCallAdmission, _ caller: String) -> (@Sendable () -> Void)? {
        if case .admitted = admission.admit(caller: caller, tool: "t") { { admission.release(caller: caller) } } else { nil }
    }

    func status(_ decision: CallAdmissionDecision) -> Int? {
        if case .refused(_, let status, _) = decision { status } else { nil }
    }

    @Test func perTokenThenGlobalCapsAreCountedAndReleased() throws {
        let metrics = ServerMetrics()
        let admission = ToolCallAdmission(maxInFlightPerToken: 2, globalMaximum: 3, toolRate: nil, metrics: metrics)
        let a1 = try #require(admit(admission, "a"))
        let a2 = try #require(admit(admission, "a"))
        #expect(status(admission.admit(caller: "a", tool: "t")) == 429)
        let b1 = try #require(admit(admission, "b"))
        #expect(status(admission.admit(caller: "b", tool: "t")) == 503, "three in flight: the global cap")
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
}
