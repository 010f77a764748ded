/// `log`: swift-log level and output format.
public struct LogConfig: Codable, Sendable, Equatable {
    public var level = LogLevel.info
    public var format = LogFormat.json

    public init() {}
}

/// The swift-log levels, by name.
public enum LogLevel: String, ConfigEnum {
    case trace, debug, info, notice, warning, error, critical
}

public enum LogFormat: String, ConfigEnum {
    case json, console
}
