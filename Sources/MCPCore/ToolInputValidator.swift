/// Checks tool arguments against the subset of JSON Schema our tools declare: `type`,
/// `required`, `properties`, `enum`, `additionalProperties: false`, `items`, `minimum`,
/// `maximum`, `minLength`, `maxLength`. The message names the argument, so the model can
/// correct itself (2025-11-25 server/tools.mdx "Error Handling": input validation errors
/// are tool execution errors, reported with `isError: true`).
public enum ToolInputValidator {
    public static func validate(_ arguments: JSONObject, against schema: JSONValue) -> String? {
        validate(.object(arguments), schema: schema, path: "")
    }

    private static func validate(_ value: JSONValue, schema: JSONValue, path: String) -> String? {
        guard case .object(let schema) = schema else { return nil }
        var value = value
        // An integer written as a string of digits ("stack_id": "3"): models quote ids, the
        // Go server took them, and the tools read them (`ToolArguments.int`). It is checked
        // as the number it is, bounds included.
        if schema["type"]?.stringValue == "integer", case .string(let text) = value, let number = Self.integer(text) {
            value = .int(number)
        }
        let name = path.isEmpty ? "arguments" : "argument '\(path)'"
        if let type = schema["type"]?.stringValue, !matches(value, type: type) {
            return "\(name): expected \(type), found \(value.typeName)"
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            let list = options.map { $0.serializedString() }.joined(separator: ", ")
            return "\(name): must be one of \(list)"
        }
        if let minimum = schema["minimum"]?.doubleValue, let number = value.doubleValue, number < minimum {
            return "\(name): must be at least \(format(minimum))"
        }
        if let maximum = schema["maximum"]?.doubleValue, let number = value.doubleValue, number > maximum {
            return "\(name): must be at most \(format(maximum))"
        }
        if case .string(let text) = value, let problem = checkLength(text, schema: schema) {
            return "\(name): \(problem)"
        }
        if case .object(let object) = value {
            let properties = schema["properties"]?.objectValue ?? JSONObject()
            for case .string(let key) in schema["required"]?.arrayValue ?? [] where object[key] == nil || object[key] == .null {
                return "missing required argument '\(join(path, key))'"
            }
            for (key, member) in object {
                if let propertySchema = properties[key] {
                    if member == .null { continue }
                    if let problem = validate(member, schema: propertySchema, path: join(path, key)) { return problem }
                } else if schema["additionalProperties"] == .bool(false) {
                    return "unknown argument '\(join(path, key))'"
                }
            }
        }
        if case .array(let elements) = value, let items = schema["items"] {
            for (i, element) in elements.enumerated() {
                if let problem = validate(element, schema: items, path: "\(path)[\(i)]") { return problem }
            }
        }
        return nil
    }

    /// JSON Schema 2020-12 section 6.3: a string's length is its number of characters as
    /// RFC 8259 defines them, i.e. Unicode scalars (not grapheme clusters or UTF-8 bytes).
    private static func checkLength(_ text: String, schema: JSONObject) -> String? {
        let maxLength = schema["maxLength"]?.intValue
        let minLength = schema["minLength"]?.intValue
        if maxLength == nil && minLength == nil { return nil }
        // Scalars never outnumber UTF-8 bytes: most strings are settled without counting.
        if minLength == nil, let maxLength, text.utf8.count <= maxLength { return nil }
        let length = text.unicodeScalars.count
        if let maxLength, length > maxLength { return "must be at most \(maxLength) characters, found \(length)" }
        if let minLength, length < minLength { return "must be at least \(minLength) characters, found \(length)" }
        return nil
    }

    private static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("string", .string), ("boolean", .bool), ("object", .object), ("array", .array), ("null", .null): true
        case ("integer", .int): true
        case ("integer", .double(let d)): d.rounded() == d
        case ("number", .int), ("number", .double): true
        default: false
        }
    }

    /// `-?[0-9]{1,18}`: what fits an Int64 without a question.
    private static func integer(_ text: String) -> Int64? {
        let digits = text.utf8.first == UInt8(ascii: "-") ? text.utf8.dropFirst() : text.utf8[...]
        guard (1...18).contains(digits.count), digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int64(text)
    }

    private static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    private static func format(_ d: Double) -> String {
        d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}
