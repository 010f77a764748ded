// libFuzzer harness for the SSE writer's escaping (Sources/Server/SSEEventFormat.swift).
// Built by fuzz/run.sh together with that one file.
//
// Properties: parsing the formatted event the way an event-stream client does (WHATWG HTML
// §9.2.6: lines end at CR, LF or CRLF; "data" fields joined with LF) gives back exactly one
// event whose data is the input with its line breaks normalised to LF, whose type and id are
// the ones given, and nothing else (no injected field, no second event).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSSEFormat(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let raw = start.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
    let data = String(decoding: raw, as: UTF8.self)
    let text = SSEEventFormat.format(event: "message", data: data, id: "3-7")

    // A client-side event-stream parser.
    var lines: [String] = []
    var current = ""
    var scalars = Array(text.unicodeScalars)[...]
    while let scalar = scalars.popFirst() {
        if scalar == "\r" {
            if scalars.first == "\n" { scalars.removeFirst() }
            lines.append(current); current = ""
        } else if scalar == "\n" {
            lines.append(current); current = ""
        } else {
            current.unicodeScalars.append(scalar)
        }
    }
    if !current.isEmpty { fatalError("event does not end with a line break") }
    var events: [[String: [String]]] = []
    var fields: [String: [String]] = [:]
    for line in lines {
        // Scalar-wise, as a client does: Characters would glue a combining mark to ":" or " ".
        let scalars = Array(line.unicodeScalars)
        if scalars.isEmpty {
            if !fields.isEmpty { events.append(fields); fields = [:] }
            continue
        }
        guard let colon = scalars.firstIndex(of: ":") else { fatalError("field without a colon: \(line.debugDescription)") }
        var value = scalars[(colon + 1)...]
        if value.first == " " { value.removeFirst() }
        var name = String.UnicodeScalarView(), text = String.UnicodeScalarView()
        name.append(contentsOf: scalars[..<colon])
        text.append(contentsOf: value)
        fields[String(name), default: []].append(String(text))
    }
    if !fields.isEmpty { fatalError("last event not terminated by a blank line") }
    guard events.count == 1, let event = events.first else { fatalError("\(events.count) events from one") }
    guard Set(event.keys) == ["event", "id", "data"] else { fatalError("unexpected fields \(event.keys)") }
    guard event["event"] == ["message"], event["id"] == ["3-7"] else { fatalError("type or id changed") }

    // The data a client sees: the input with CRLF / CR normalised to LF.
    var expected = ""
    var input = Array(data.unicodeScalars)[...]
    while let scalar = input.popFirst() {
        if scalar == "\r" {
            if input.first == "\n" { input.removeFirst() }
            expected.unicodeScalars.append("\n")
        } else {
            expected.unicodeScalars.append(scalar)
        }
    }
    let got = event["data"]!.joined(separator: "\n")
    guard got == expected else { fatalError("data changed: \(got.debugDescription) != \(expected.debugDescription)") }
    return 0
}
