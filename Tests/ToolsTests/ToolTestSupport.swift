import MCPCore
import Testing
@testable import Tools

/// What a tool call ended with, the way the dispatcher renders it: a result, or a
/// `ToolError` (which becomes an `isError` result).
enum Outcome {
    case result(ToolResult)
    case failure(ToolError)

    var result: ToolResult? { if case .result(let r) = self { r } else { nil } }
    var error: ToolError? { if case .failure(let e) = self { e } else { nil } }
    var text: String {
        guard case .result(let r) = self else { return "" }
        return r.content.compactMap { if case .text(let t) = $0 { t } else { nil } }.joined(separator: "\n")
    }
    var json: JSONValue? { try? JSONParser.parse(text) }
}

let testClient = BackendHTTPClient(configuration: .init(connectTimeout: .seconds(2)))

/// A fixed clock (2026-01-01T00:00:00Z) so relative times resolve to known values.
let fixedNow: Double = 1_767_225_600

func tools(_ settings: CatalogueSettings, client: BackendHTTPClient = testClient) -> [ToolDefinition] {
    ToolCatalogue.makeTools(settings, client: client, now: { fixedNow })
}

func call(_ tools: [ToolDefinition], _ name: String, _ arguments: JSONObject = [:], context: ToolContext? = nil) async -> Outcome {
    guard let tool = tools.first(where: { $0.name == name }) else {
        Issue.record("no tool named \(name)")
        return .failure(ToolError(.internalError, "no tool"))
    }
    do {
        return .result(try await tool.handler(ToolArguments(arguments), context ?? ToolContext(toolName: name)))
    } catch let error as ToolError {
        return .failure(error)
    } catch {
        Issue.record("tool \(name) threw a non-ToolError: \(error)")
        return .failure(ToolError(.internalError, "\(error)"))
    }
}

/// Parses `a=1&b=x%20y` into pairs (percent-decoded) to assert on queries.
func queryItems(_ query: String) -> [(String, String)] {
    query.split(separator: "&").map { item in
        let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        return (percentDecode(String(parts[0])), parts.count > 1 ? percentDecode(String(parts[1])) : "")
    }
}

func queryValue(_ query: String, _ key: String) -> String? {
    queryItems(query).first { $0.0 == key }?.1
}

func percentDecode(_ text: String) -> String {
    var out = [UInt8]()
    var bytes = Array(text.utf8)[...]
    while let byte = bytes.popFirst() {
        if byte == UInt8(ascii: "%"), bytes.count >= 2, let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
            out.append(value)
            bytes = bytes.dropFirst(2)
        } else {
            out.append(byte)
        }
    }
    return String(decoding: out, as: UTF8.self)
}

func parseBody(_ request: FakeBackend.Request?) -> JSONValue? {
    guard let request else { return nil }
    return try? JSONParser.parse(request.body)
}
