import CLibYAML

/// Turns one YAML document into a `YAMLNode` tree with the system libyaml's event API.
///
/// Configuration is attacker-adjacent input (a mounted file, a templated value), so
/// everything YAML can do beyond plain data is refused instead of supported: anchors and
/// aliases (the "billion laughs" expansion), tags outside the core schema, more than one
/// document, non-scalar keys, duplicate keys. Size, encoding and control characters are
/// checked before libyaml runs; depth is checked per event.
public enum YAMLParser {
    /// Parses `text` as the document named `file` (used in error positions).
    public static func parse(_ text: String, file: String, limits: YAMLLimits = YAMLLimits()) throws(ConfigError) -> YAMLNode {
        try parse(bytes: Array(text.utf8), file: file, limits: limits)
    }

    /// Parses raw bytes: the loader hands file contents here unchanged, so invalid UTF-8
    /// is seen and reported rather than repaired.
    public static func parse(bytes: [UInt8], file: String, limits: YAMLLimits = YAMLLimits()) throws(ConfigError) -> YAMLNode {
        guard bytes.count <= limits.maxBytes else {
            throw ConfigError(
                origin: .file(name: file, line: 1, column: 1), path: "",
                expected: "a document of at most \(limits.maxBytes) bytes", found: "\(bytes.count) bytes"
            )
        }
        try checkEncoding(bytes, file: file)
        if bytes.isEmpty { return .emptyMapping(origin: .file(name: file, line: 1, column: 1)) }

        var builder = TreeBuilder(file: file, maxDepth: limits.maxDepth)
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            throw ConfigError(origin: .file(name: file, line: 1, column: 1), path: "", expected: "memory for the YAML parser", found: "none")
        }
        defer { yaml_parser_delete(parser) }

        let result: Result<YAMLNode?, ConfigError> = bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
            yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(parser, &event) == 1 else {
                    return .failure(syntaxError(parser.pointee, file: file))
                }
                defer { yaml_event_delete(&event) }
                do throws(ConfigError) {
                    if try builder.handle(event) { return .success(builder.root) }
                } catch {
                    return .failure(error)
                }
            }
        }
        switch result {
        case let .success(root):
            guard let root else { return .emptyMapping(origin: .file(name: file, line: 1, column: 1)) }
            return root
        case let .failure(error):
            throw error
        }
    }

    /// Refuses invalid UTF-8, NUL and other control characters (tab, LF and CR aside)
    /// with the position of the first bad byte.
    static func checkEncoding(_ bytes: [UInt8], file: String) throws(ConfigError) {
        var line = 1
        var column = 1
        var iterator = bytes.makeIterator()
        var decoder = Unicode.UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case let .scalarValue(scalar):
                let value = scalar.value
                if value == 0x0A {
                    line += 1
                    column = 1
                    continue
                }
                if isControl(value) && value != 0x0D {
                    let name = value == 0 ? "a NUL byte" : "control character U+\(String(value, radix: 16, uppercase: true))"
                    throw ConfigError(
                        origin: .file(name: file, line: line, column: column), path: "",
                        expected: "printable text", found: name
                    )
                }
                column += 1
            case .emptyInput:
                return
            case .error:
                throw ConfigError(
                    origin: .file(name: file, line: line, column: column), path: "",
                    expected: "UTF-8 text", found: "an invalid UTF-8 byte sequence"
                )
            }
        }
    }

    /// C0 and C1 control characters other than tab and line feed, and DEL.
    static func isControl(_ value: UInt32) -> Bool {
        (value < 0x20 && value != 0x09 && value != 0x0A) || value == 0x7F || (0x80...0x9F).contains(value)
    }

    static func syntaxError(_ parser: yaml_parser_t, file: String) -> ConfigError {
        let problem = parser.problem.map { String(cString: $0) } ?? "an unreadable document"
        var found = "a syntax error: \(problem)"
        if let context = parser.context {
            let mark = parser.context_mark
            found += " \(String(cString: context)) (started at \(mark.line + 1):\(mark.column + 1))"
        }
        let mark = parser.problem_mark
        return ConfigError(
            origin: .file(name: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1), path: "",
            expected: "valid YAML", found: found
        )
    }
}

/// The event-stream-to-tree state: a stack of open collections. Frames are classes so
/// that appending to the open collection never copies it (a 1 MiB list stays linear).
private struct TreeBuilder {
    final class Frame {
        let origin: ConfigOrigin
        let isMapping: Bool
        var items: [YAMLNode] = []
        var entries: [YAMLNode.Entry] = []
        var pendingKey: (String, ConfigOrigin)?
        /// Key -> line of its first occurrence, for the duplicate-key check.
        var seen: [String: Int] = [:]

        init(origin: ConfigOrigin, isMapping: Bool) {
            self.origin = origin
            self.isMapping = isMapping
        }

        var node: YAMLNode {
            YAMLNode(isMapping ? .mapping(entries) : .sequence(items), origin: origin)
        }
    }

    let file: String
    let maxDepth: Int
    var stack: [Frame] = []
    var root: YAMLNode?
    var documents = 0

    init(file: String, maxDepth: Int) {
        self.file = file
        self.maxDepth = maxDepth
    }

    func origin(_ mark: yaml_mark_t) -> ConfigOrigin {
        .file(name: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    var pathComponents: [String] {
        stack.compactMap { $0.isMapping ? $0.pendingKey?.0 : String($0.items.count) }
    }

    /// The key path of the value about to be added, for error messages.
    var path: String { ConfigKeyPath.render(pathComponents) }

    /// True when the next node would be a mapping key.
    var expectsKey: Bool {
        guard let top = stack.last else { return false }
        return top.isMapping && top.pendingKey == nil
    }

    func error(_ mark: yaml_mark_t, _ expected: String, _ found: String) -> ConfigError {
        ConfigError(origin: origin(mark), path: path, expected: expected, found: found)
    }

    /// Returns true at the end of the stream.
    mutating func handle(_ event: yaml_event_t) throws(ConfigError) -> Bool {
        let mark = event.start_mark
        switch event.type {
        case YAML_STREAM_START_EVENT, YAML_DOCUMENT_END_EVENT, YAML_NO_EVENT:
            return false
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw error(mark, "a single YAML document", "a second document")
            }
            return false
        case YAML_ALIAS_EVENT:
            throw error(mark, "plain data (anchors and aliases are refused)", "an alias")
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            try refuseAnchor(scalar.anchor, mark)
            let tag = try coreTag(scalar.tag, mark, allowed: [.str, .int, .bool, .float, .null])
            let value = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            // Escapes (`"\0"`, `"\e"`) can put control characters into a value that the
            // raw-text check never saw: a NUL would cut a path short in open(2).
            if value.unicodeScalars.contains(where: { YAMLParser.isControl($0.value) }) {
                throw error(mark, "printable text", "a control character in a quoted scalar")
            }
            let plain = scalar.style == YAML_PLAIN_SCALAR_STYLE && tag == nil
            try add(YAMLNode(.scalar(.init(value, isPlain: plain, tag: tag)), origin: origin(mark)), mark)
            return false
        case YAML_SEQUENCE_START_EVENT:
            try refuseAnchor(event.data.sequence_start.anchor, mark)
            _ = try coreTag(event.data.sequence_start.tag, mark, allowed: [.seq])
            try open(Frame(origin: origin(mark), isMapping: false), mark, kind: "a list")
            return false
        case YAML_MAPPING_START_EVENT:
            try refuseAnchor(event.data.mapping_start.anchor, mark)
            _ = try coreTag(event.data.mapping_start.tag, mark, allowed: [.map])
            try open(Frame(origin: origin(mark), isMapping: true), mark, kind: "a mapping")
            return false
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return false }
            try add(frame.node, mark)
            return false
        default:
            throw error(mark, "a known YAML event", "event \(event.type.rawValue)")
        }
    }

    func refuseAnchor(_ anchor: UnsafeMutablePointer<yaml_char_t>?, _ mark: yaml_mark_t) throws(ConfigError) {
        if anchor != nil {
            throw error(mark, "plain data (anchors and aliases are refused)", "an anchor")
        }
    }

    func coreTag(_ tag: UnsafeMutablePointer<yaml_char_t>?, _ mark: yaml_mark_t, allowed: [YAMLNode.CoreTag]) throws(ConfigError) -> YAMLNode.CoreTag? {
        guard let tag else { return nil }
        let text = String(cString: tag)
        guard let core = YAMLNode.CoreTag(rawValue: text), allowed.contains(core) else {
            throw error(mark, "no tag or a core schema tag that fits the node", "tag \(ScalarResolution.quote(ScalarResolution.shorten(text)))")
        }
        return core
    }

    mutating func open(_ frame: Frame, _ mark: yaml_mark_t, kind: String) throws(ConfigError) {
        if expectsKey {
            throw error(mark, "a scalar key", kind)
        }
        if stack.count >= maxDepth {
            throw error(mark, "nesting of at most \(maxDepth) levels", "deeper nesting")
        }
        stack.append(frame)
    }

    mutating func add(_ node: YAMLNode, _ mark: yaml_mark_t) throws(ConfigError) {
        guard let top = stack.last else {
            root = node
            return
        }
        guard top.isMapping else {
            top.items.append(node)
            return
        }
        if let (key, keyOrigin) = top.pendingKey {
            top.entries.append(.init(key: key, keyOrigin: keyOrigin, value: node))
            top.pendingKey = nil
            return
        }
        guard case let .scalar(scalar) = node.kind else {
            throw error(mark, "a scalar key", "a collection")
        }
        if let firstLine = top.seen[scalar.value] {
            throw ConfigError(
                origin: node.origin, path: ConfigKeyPath.render(pathComponents + [scalar.value]),
                expected: "unique keys", found: "a duplicate key (first at line \(firstLine))"
            )
        }
        if case let .file(_, line, _) = node.origin { top.seen[scalar.value] = line }
        top.pendingKey = (scalar.value, node.origin)
    }
}
