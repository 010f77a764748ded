import Foundation
import Logging
import MCPCore
import Synchronization

/// Log lines on stderr (stdout stays free for MCP over stdio), one per event: a JSON object
/// (`log.format: json`, what log shippers expect) or a human-readable line (`console`).
///
/// Metadata is stored as given and rendered only when a line is written: swift-log's
/// `StreamLogHandler` re-rendered all metadata on each set, 2–3 % of the CPU per request
/// with nothing logged. A request's own metadata (its id, the caller) comes from the
/// metadata provider, only for the lines written.
struct StderrLogHandler: LogHandler {
    enum Format { case json, console }

    let label: String
    let format: Format
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    /// Adds the metadata of the request being served (``RequestLogMetadata``) to each line.
    var metadataProvider: Logger.MetadataProvider?
    /// One writer at a time, so lines from several threads never interleave.
    static let lock = Mutex(())

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided, uniquingKeysWith: { $1 }) }
        if let given = event.metadata { merged.merge(given, uniquingKeysWith: { $1 }) }
        let stamp = Date().ISO8601Format(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        var line: [UInt8]
        switch format {
        case .json:
            var object: JSONObject = [
                "ts": .string(stamp),
                "level": .string(event.level.rawValue),
                "logger": .string(label),
                "msg": .string(event.message.description),
            ]
            for (key, value) in merged { object[key] = .string(value.description) }
            line = JSONValue.object(object).serialized()
        case .console:
            let rendered = merged.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            line = Array("\(stamp) \(event.level) \(label):\(rendered) \(event.message)".utf8)
        }
        line.append(UInt8(ascii: "\n"))
        Self.lock.withLock { _ in
            FileHandle.standardError.write(Data(line))
        }
    }
}
