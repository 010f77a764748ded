import Testing
@testable import MCPCore

/// A call that reaches a cap is still answered as the tool answered it, and the cap is
/// reported to the observer (`mcp_tool_limits_total{tool,limit}`) with the tool's name.
@Suite struct ToolLimitTests {
    static let cut = ToolDefinition(name: "cut", description: "A result cut at the cap.", annotations: .readOnly) { _, _ in
        ToolResult(content: [.text("part"), .text("[truncated: ...]")], limitReached: .resultBytes)
    }
    static let huge = ToolDefinition(name: "huge", description: "A backend answer over its cap.", annotations: .readOnly) { _, _ in
        throw ToolError(.tooLarge, "the response from backend is larger than the 4096-byte cap")
    }
    static let down = ToolDefinition(name: "down", description: "A backend that is down.", annotations: .readOnly) { _, _ in
        throw ToolError(.unreachable, "backend is unreachable")
    }

    @Test("a cut result and a backend answer over its cap are counted by tool; other results and failures are not")
    func limitsReported() async {
        let h = Harness(tools: [Self.cut, Self.huge, Self.down, Harness.echo])
        await h.initialize()
        let cut = await h.request("tools/call", id: 1, params: ["name": "cut"])
        #expect(cut?["result"]?["isError"] == .bool(false))
        #expect(cut?["result"]?["content"]?.arrayValue?.count == 2)
        let huge = await h.request("tools/call", id: 2, params: ["name": "huge"])
        #expect(huge?["result"]?["isError"] == .bool(true))
        _ = await h.request("tools/call", id: 3, params: ["name": "down"])
        _ = await h.request("tools/call", id: 4, params: ["name": "echo", "arguments": ["message": "hi"]])
        #expect(h.observer.limitsReached == ["cut:result_bytes", "huge:backend_response_bytes"])
    }
}
