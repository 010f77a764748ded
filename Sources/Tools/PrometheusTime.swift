import MCPCore

/// Time arguments of the Prometheus tools. Prometheus itself accepts RFC 3339 and Unix
/// seconds; models also write `1h` or `now-1h` meaning "one hour ago", which Prometheus
/// refuses, so those are resolved here against an injected clock.
enum PrometheusTime {
    /// Resolves `text` to something Prometheus accepts: RFC 3339 and Unix timestamps pass
    /// through; `now`, `1h`, `-1h`, `now-1h30m` become Unix seconds relative to `now`.
    static func resolve(_ text: String, argument: String, now: Double) throws(ToolError) -> String {
        let trimmed = text.trimmingSpaces
        if trimmed == "now" { return format(now) }
        var relative = Substring(trimmed)
        if relative.hasPrefix("now-") { relative = relative.dropFirst(4) } else if relative.hasPrefix("-") { relative = relative.dropFirst() }
        if let seconds = durationSeconds(relative) { return try ago(seconds, from: now, argument: argument) }
        if isDecimal(trimmed), let unix = Double(trimmed), unix.isFinite, unix >= 0 { return trimmed }
        if isRFC3339(trimmed) { return trimmed }
        throw .invalidArgument(argument, "must be RFC 3339 (2026-01-02T15:04:05Z), Unix seconds, or relative like '1h' or 'now-30m'")
    }

    /// Seconds in a Prometheus duration (`90s`, `1h30m`, `2d`), or `nil` when it is not one.
    static func durationSeconds(_ text: Substring) -> Double? {
        guard !text.isEmpty else { return nil }
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604_800), ("y", 31_536_000)]
        var total = 0.0
        var rest = text
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 12, let number = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else { return nil }
            rest = rest.dropFirst(unit.0.count)
            total += number * unit.1
        }
        return total
    }

    /// A step: a Prometheus duration or a positive number of seconds.
    static func step(_ text: String) throws(ToolError) -> String {
        let trimmed = text.trimmingSpaces
        if let seconds = durationSeconds(Substring(trimmed)), seconds > 0 { return trimmed }
        if isDecimal(trimmed), let number = Double(trimmed), number > 0, number.isFinite { return trimmed }
        throw .invalidArgument("step", "must be a duration like '1m' or '15s', or a positive number of seconds")
    }

    /// `seconds` before `now` as Unix seconds. A duration reaching before 1970 is refused:
    /// Prometheus has nothing there, and a 12-digit count of years would not fit the
    /// milliseconds `format` writes.
    static func ago(_ seconds: Double, from now: Double, argument: String) throws(ToolError) -> String {
        let time = now - seconds
        guard time >= 0 else { throw .invalidArgument(argument, "reaches back before 1970") }
        return format(time)
    }

    /// Unix seconds with milliseconds, for a time from 1970 on (`ago` and the clock's now).
    static func format(_ seconds: Double) -> String {
        let millis = Int64(exactly: (max(0, min(seconds, 1e15)) * 1000).rounded()) ?? 0
        let fraction = String(millis % 1000)
        return "\(millis / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    /// Decimal digits with an optional fraction and exponent: what Go's `ParseFloat` reads as
    /// Prometheus does. Swift's `Double(_:)` also takes hexadecimal (`0x10`), `inf` and `nan`,
    /// which Prometheus refuses with an error that names no argument.
    static func isDecimal(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.first.map { (48...57).contains($0) || $0 == 46 } == true
            && text.utf8.allSatisfy { (48...57).contains($0) || $0 == 46 || $0 == 101 || $0 == 69 || $0 == 43 || $0 == 45 }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, checked by shape only; Prometheus checks
    /// the rest and answers with a clear error. `T` and `Z` in capitals, as Go's
    /// `time.Parse(time.RFC3339Nano, …)` (Prometheus, Vikunja) requires: RFC 3339 §5.6
    /// allows `t`, `z` and a space, which they refuse.
    static func isRFC3339(_ text: String) -> Bool {
        let b = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Bool { range.allSatisfy { $0 < b.count && (48...57).contains(b[$0]) } }
        guard b.count >= 20, digits(0..<4), b[4] == 45, digits(5..<7), b[7] == 45, digits(8..<10),
              b[10] == 84, digits(11..<13), b[13] == 58, digits(14..<16), b[16] == 58, digits(17..<19)
        else { return false }
        var i = 19
        if b[i] == 46 {
            i += 1
            let start = i
            while i < b.count, (48...57).contains(b[i]) { i += 1 }
            if i == start { return false }
        }
        guard i < b.count else { return false }
        if b[i] == 90 { return i + 1 == b.count }
        guard b[i] == 43 || b[i] == 45, b.count == i + 6, digits(i + 1..<i + 3), b[i + 3] == 58, digits(i + 4..<i + 6) else { return false }
        return true
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
