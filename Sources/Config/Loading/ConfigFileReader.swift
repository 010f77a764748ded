#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a configuration file with a size cap, without Foundation. Only regular files:
/// a FIFO or device given as a config path must not block or stream forever.
enum ConfigFileReader {
    /// The file's bytes, or nil when it does not exist (a missing layer is fine).
    static func contents(of path: String, maxBytes: Int) throws(ConfigError) -> [UInt8]? {
        let origin = ConfigOrigin.file(name: path, line: 1, column: 1)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw ConfigError(origin: origin, path: "", expected: "a readable file", found: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ConfigError(origin: origin, path: "", expected: "a readable file", found: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ConfigError(origin: origin, path: "", expected: "a regular file", found: "another kind of file")
        }
        guard Int(info.st_size) <= maxBytes else {
            throw ConfigError(origin: origin, path: "", expected: "a document of at most \(maxBytes) bytes", found: "\(info.st_size) bytes")
        }
        // Read up to one byte past the cap, in case the file grows while being read.
        var bytes = [UInt8](repeating: 0, count: maxBytes + 1)
        var count = 0
        while count < bytes.count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                read(fd, buffer.baseAddress! + count, buffer.count - count)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw ConfigError(origin: origin, path: "", expected: "a readable file", found: String(cString: strerror(errno)))
            }
            if result == 0 { break }
            count += result
        }
        guard count <= maxBytes else {
            throw ConfigError(origin: origin, path: "", expected: "a document of at most \(maxBytes) bytes", found: "more bytes")
        }
        return Array(bytes[..<count])
    }
}

/// A secret kept in a file (an `auth.tokens[].file`, a backend's `token_file`), read as a
/// config file is: a regular file only, within a size cap, opened without blocking, so a FIFO,
/// a device or a runaway file named there fails at once instead of hanging or filling memory
/// (at start-up, or in a SIGHUP reload that a graceful shutdown then waits for).
public enum SecretFile {
    /// The file's text, trimmed of surrounding whitespace; an error says why it cannot be used.
    public static func read(_ path: String, maxBytes: Int) -> Result<String, SecretFileError> {
        let bytes: [UInt8]
        do {
            guard let read = try ConfigFileReader.contents(of: path, maxBytes: maxBytes) else { return .failure(.init("no such file")) }
            bytes = read
        } catch {
            return .failure(.init("\(error.expected), found \(error.found)"))
        }
        guard var text = String(validating: bytes, as: UTF8.self) else { return .failure(.init("not UTF-8 text")) }
        // A byte order mark (an editor's) is no part of the secret.
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        guard let first = text.firstIndex(where: { !$0.isWhitespace }), let last = text.lastIndex(where: { !$0.isWhitespace }) else {
            return .failure(.init("empty"))
        }
        return .success(String(text[first...last]))
    }
}

public struct SecretFileError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
