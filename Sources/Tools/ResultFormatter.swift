import MCPCore

/// Turns backend answers into tool results no larger than the configured cap.
///
/// A result over the cap keeps its first bytes (cut on a UTF-8 boundary; a log keeps its
/// last lines instead) and gains a note saying how much was dropped, so the model knows it
/// saw a part; the structured copy is dropped then, as a cut JSON document is not JSON.
struct ResultFormatter: Sendable {
    let maxBytes: Int

    func json(_ value: JSONValue) -> ToolResult {
        let bytes = value.serialized()
        if bytes.count <= maxBytes { return .json(value) }
        return truncated(bytes)
    }

    func text(_ text: String) -> ToolResult {
        let bytes = Array(text.utf8)
        if bytes.count <= maxBytes { return .text(text) }
        return truncated(bytes)
    }

    /// For text whose end matters most (the last lines of a log): over the cap it keeps the
    /// last bytes, from the first whole line among them.
    func tail(_ text: String) -> ToolResult {
        let bytes = Array(text.utf8)
        if bytes.count <= maxBytes { return .text(text) }
        var start = bytes.count - maxBytes
        if let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")), newline + 1 < bytes.count {
            start = newline + 1
        } else {
            while start < bytes.count, bytes[start] & 0xC0 == 0x80 { start += 1 }
        }
        let note = "[truncated: the result is \(bytes.count) bytes; only the last \(bytes.count - start) are shown (limit \(maxBytes)). Ask for fewer lines to see them whole.]"
        return ToolResult(content: [.text(note), .text(String(decoding: bytes[start...], as: UTF8.self))], limitReached: .resultBytes)
    }

    private func truncated(_ bytes: [UInt8]) -> ToolResult {
        var end = min(maxBytes, bytes.count)
        while end > 0, end < bytes.count, bytes[end] & 0xC0 == 0x80 { end -= 1 }
        let note = "[truncated: the result is \(bytes.count) bytes; only the first \(end) are shown (limit \(maxBytes)). Narrow the query to see the rest.]"
        return ToolResult(content: [.text(String(decoding: bytes[..<end], as: UTF8.self)), .text(note)], limitReached: .resultBytes)
    }
}
