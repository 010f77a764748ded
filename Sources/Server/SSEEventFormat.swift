/// The wire form of one Server-Sent Event (WHATWG HTML §9.2.5), kept free of imports so the
/// fuzzer can compile it alone (fuzz/targets/sse_format.swift).
///
/// Every line of `data` gets its own `data:` field; CR, LF and CRLF all end a line, as an
/// event-stream parser reads them, so a value cannot inject fields or end the event early.
/// The split works on Unicode scalars, not Characters: a CR followed by a combining mark is
/// one Character in Swift but still a line break to a client (found by fuzz/sse_format).
/// `event` and `id` are the server's own fixed names; any line break in them is removed.
enum SSEEventFormat {
    static func format(event: String?, data: String, id: String? = nil, retry: Int? = nil) -> String {
        var text = ""
        if let event { text += "event: \(singleLine(event))\n" }
        if let id { text += "id: \(singleLine(id))\n" }
        if let retry { text += "retry: \(retry)\n" }
        var line = String.UnicodeScalarView()
        var scalars = data.unicodeScalars[...]
        while let scalar = scalars.popFirst() {
            guard scalar == "\r" || scalar == "\n" else {
                line.append(scalar)
                continue
            }
            if scalar == "\r", scalars.first == "\n" { scalars.removeFirst() }
            text += "data: \(String(line))\n"
            line = String.UnicodeScalarView()
        }
        text += "data: \(String(line))\n"
        return text + "\n"
    }

    private static func singleLine(_ value: String) -> String {
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: value.unicodeScalars.lazy.filter { $0 != "\r" && $0 != "\n" })
        return String(scalars)
    }
}
