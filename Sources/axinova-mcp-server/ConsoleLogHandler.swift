import Foundation
import Logging
import Synchronization

/// Human-readable lines on stderr (`log.format: console`). It formats metadata only when a
/// line is written: Hummingbird sets a request id on every request's logger, and
/// swift-log's `StreamLogHandler` re-renders all metadata on each such set, which showed
/// up as 2–3 % of the CPU per request even with nothing logged.
struct ConsoleLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    static let lock = Mutex(())

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        let rendered = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let stamp = Date().ISO8601Format(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        let line = "\(stamp) \(event.level) \(label):\(rendered) \(event.message)\n"
        Self.lock.withLock { _ in
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
}
