/// The `arguments` of a `tools/call`, with typed accessors whose errors name the argument.
///
/// The dispatcher has already checked the arguments against the tool's input schema, so
/// in practice these accessors fail only when a schema and its handler disagree; the
/// message still tells the model exactly which argument to fix.
public struct ToolArguments: Sendable, Hashable {
    public let values: JSONObject

    public init(_ values: JSONObject = JSONObject()) { self.values = values }

    public subscript(name: String) -> JSONValue? {
        guard let value = values[name], value != .null else { return nil }
        return value
    }

    public func string(_ name: String) throws(ToolError) -> String {
        guard let value = try optionalString(name) else { throw .invalidArgument(name, "is required") }
        return value
    }

    public func optionalString(_ name: String) throws(ToolError) -> String? {
        guard let value = self[name] else { return nil }
        guard let string = value.stringValue else { throw .invalidArgument(name, "must be a string") }
        return string
    }

    /// An integer; a string of digits is accepted too, because models often quote ids.
    public func int(_ name: String) throws(ToolError) -> Int64 {
        guard let value = try optionalInt(name) else { throw .invalidArgument(name, "is required") }
        return value
    }

    public func optionalInt(_ name: String) throws(ToolError) -> Int64? {
        guard let value = self[name] else { return nil }
        if let int = value.intValue { return int }
        if let string = value.stringValue, let int = Int64(string) { return int }
        throw .invalidArgument(name, "must be an integer")
    }

    public func optionalDouble(_ name: String) throws(ToolError) -> Double? {
        guard let value = self[name] else { return nil }
        guard let double = value.doubleValue else { throw .invalidArgument(name, "must be a number") }
        return double
    }

    public func bool(_ name: String) throws(ToolError) -> Bool {
        guard let value = try optionalBool(name) else { throw .invalidArgument(name, "is required") }
        return value
    }

    public func optionalBool(_ name: String) throws(ToolError) -> Bool? {
        guard let value = self[name] else { return nil }
        guard let bool = value.boolValue else { throw .invalidArgument(name, "must be a boolean") }
        return bool
    }

    public func optionalObject(_ name: String) throws(ToolError) -> JSONObject? {
        guard let value = self[name] else { return nil }
        guard let object = value.objectValue else { throw .invalidArgument(name, "must be an object") }
        return object
    }
}
