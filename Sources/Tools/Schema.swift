import MCPCore

/// Small builders for the tools' input schemas (JSON Schema 2020-12 subset that MCP
/// clients understand), so every property has a type and a description.
enum Schema {
    static func object(_ properties: [(String, JSONValue)] = [], required: [String] = []) -> JSONValue {
        var object: JSONObject = ["type": "object", "properties": .object(JSONObject(properties.map { (key: $0.0, value: $0.1) }))]
        if !required.isEmpty { object["required"] = .array(required.map { .string($0) }) }
        object["additionalProperties"] = false
        return .object(object)
    }

    static func string(_ description: String, default value: String? = nil, maxLength: Int = 4096) -> JSONValue {
        var object: JSONObject = ["type": "string", "description": .string(description), "maxLength": .int(Int64(maxLength))]
        if let value { object["default"] = .string(value) }
        return .object(object)
    }

    static func integer(_ description: String, default value: Int64? = nil, minimum: Int64? = nil, maximum: Int64? = nil) -> JSONValue {
        var object: JSONObject = ["type": "integer", "description": .string(description)]
        if let value { object["default"] = .int(value) }
        if let minimum { object["minimum"] = .int(minimum) }
        if let maximum { object["maximum"] = .int(maximum) }
        return .object(object)
    }

    static func boolean(_ description: String, default value: Bool? = nil) -> JSONValue {
        var object: JSONObject = ["type": "boolean", "description": .string(description)]
        if let value { object["default"] = .bool(value) }
        return .object(object)
    }

    static func anyObject(_ description: String) -> JSONValue {
        ["type": "object", "description": .string(description)]
    }
}

extension ToolArguments {
    /// A required string that is not empty after trimming.
    func nonEmptyString(_ name: String) throws(ToolError) -> String {
        let value = try string(name)
        if value.allSatisfy(\.isWhitespace) { throw .invalidArgument(name, "must not be empty") }
        return value
    }

    /// A required identifier (uid, container id, …): 1-256 characters of letters, digits,
    /// `-`, `_`, `.` and `:`, so it cannot change the path it is put into.
    func identifier(_ name: String) throws(ToolError) -> String {
        let value = try string(name)
        guard !value.isEmpty, value.utf8.count <= 256, value != ".", value != "..",
              value.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic && $0.isASCII || ("0"..."9").contains($0) || "-_.:".unicodeScalars.contains($0) })
        else { throw .invalidArgument(name, "must be 1-256 characters of letters, digits, '-', '_', '.' or ':'") }
        return value
    }

    /// A positive integer id (strings of digits accepted, as models often quote ids).
    func positiveID(_ name: String) throws(ToolError) -> Int64 {
        let value = try int(name)
        guard value > 0 else { throw .invalidArgument(name, "must be a positive integer") }
        return value
    }

    func optionalPositiveID(_ name: String, default value: Int64) throws(ToolError) -> Int64 {
        guard self[name] != nil else { return value }
        return try positiveID(name)
    }

    func intInRange(_ name: String, default value: Int64, _ range: ClosedRange<Int64>) throws(ToolError) -> Int64 {
        guard let given = try optionalInt(name) else { return value }
        guard range.contains(given) else { throw .invalidArgument(name, "must be between \(range.lowerBound) and \(range.upperBound)") }
        return given
    }
}
