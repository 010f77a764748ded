/// Serializes a ``JSONValue`` to compact UTF-8 JSON (RFC 8259).
///
/// Keys keep their order; strings are escaped minimally (quote, backslash, control
/// characters; `/` and non-ASCII pass through), and doubles that are not finite, which
/// JSON cannot express, become `null`.
///
/// It writes into a buffer of its own rather than an `Array`: every response is serialized
/// here, and an array's per-append uniqueness and capacity checks, with a `String` made for
/// each integer, were most of the cost (3.9 µs for the 1.3 KB `tools/list` answer; 1.2 µs
/// now, `bench/json`). Noncopyable, so the buffer has one owner and is freed with it.
public struct JSONWriter: ~Copyable {
    private var storage: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int

    public init(reservingCapacity capacity: Int = 256) {
        self.capacity = max(capacity, 32)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    /// The bytes written so far.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: storage, count: count)) }

    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .int(let i): writeInt(i)
        case .double(let d): writeDouble(d)
        case .string(let s): writeString(s)
        case .array(let elements):
            append(UInt8(ascii: "["))
            elements.withUnsafeBufferPointer { elements in
                for index in elements.indices {
                    if index > 0 { append(UInt8(ascii: ",")) }
                    write(elements[index])
                }
            }
            append(UInt8(ascii: "]"))
        case .object(let object):
            if var text = object.serializedText {
                text.withUTF8 { append($0) }
                return
            }
            append(UInt8(ascii: "{"))
            object.entries.withUnsafeBufferPointer { entries in
                for index in entries.indices {
                    if index > 0 { append(UInt8(ascii: ",")) }
                    writeString(entries[index].key)
                    append(UInt8(ascii: ":"))
                    write(entries[index].value)
                }
            }
            append(UInt8(ascii: "}"))
        }
    }

    /// Copies runs of bytes that need no escaping in one copy each (tools/list answers are
    /// mostly long descriptions), finding them eight bytes at a time.
    public mutating func writeString(_ string: String) {
        append(UInt8(ascii: "\""))
        // Native strings (all of ours) give their bytes in place, without the copy `withUTF8`
        // makes of its receiver; anything else is made native first.
        if string.utf8.withContiguousStorageIfAvailable({ writeEscaping($0) }) == nil {
            var string = string
            string.withUTF8 { writeEscaping($0) }
        }
        append(UInt8(ascii: "\""))
    }

    private mutating func writeEscaping(_ utf8: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        var index = 0
        while index < utf8.count {
            // A word that may hold a byte to escape is copied byte by byte, all eight of it,
            // into room reserved for the worst case, with no call per byte escaped: in text
            // full of quotes (JSON carried as a string) a call per quote, and testing the next
            // word from every byte, cost more than the bytes.
            var end = utf8.count
            if index + 8 <= utf8.count {
                if !Self.mayNeedEscaping(UnsafeRawPointer(utf8.baseAddress! + index).loadUnaligned(as: UInt64.self)) {
                    index += 8
                    continue
                }
                end = index + 8
            }
            if runStart < index { append(UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
            reserve((end - index) * 6)  // "\u001f" for each
            var out = count
            let storage = self.storage
            while index < end {
                let byte = utf8[index]
                if byte >= 0x20 {
                    // A quote or a backslash is written as a backslash and itself, anything else
                    // as itself, with no branch on which: quotes come every few bytes in JSON
                    // carried as a string, and each mispredicted branch cost more than a byte.
                    let escaped = (byte == UInt8(ascii: "\"") ? 1 : 0) | (byte == UInt8(ascii: "\\") ? 1 : 0)
                    storage[out] = escaped == 1 ? UInt8(ascii: "\\") : byte
                    storage[out + escaped] = byte
                    out += 1 + escaped
                } else {
                    let escape = Self.escape(byte)
                    storage[out] = UInt8(ascii: "\\")
                    storage[out + 1] = escape
                    if escape == UInt8(ascii: "u") {
                        let hex: StaticString = "0123456789abcdef"
                        storage[out + 2] = UInt8(ascii: "0")
                        storage[out + 3] = UInt8(ascii: "0")
                        storage[out + 4] = hex.utf8Start[Int(byte >> 4)]
                        storage[out + 5] = hex.utf8Start[Int(byte & 0x0F)]
                        out += 6
                    } else {
                        out += 2
                    }
                }
                index += 1
            }
            count = out
            runStart = end
        }
        if runStart < utf8.count { append(UnsafeBufferPointer(rebasing: utf8[runStart...])) }
    }

    /// The character after the backslash that escapes `byte` (a control character, `"` or
    /// `\\`): RFC 8259 §7's short forms where there is one, `u` for the other control
    /// characters. Compared, not looked up in a table: a static table is a `swift_once`
    /// check on every access.
    @inline(__always)
    static func escape(_ byte: UInt8) -> UInt8 {
        switch byte {
        case 0x08: UInt8(ascii: "b")
        case 0x09: UInt8(ascii: "t")
        case 0x0A: UInt8(ascii: "n")
        case 0x0C: UInt8(ascii: "f")
        case 0x0D: UInt8(ascii: "r")
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): byte
        default: UInt8(ascii: "u")
        }
    }

    /// Whether any of the eight bytes may be a control character, `"` or `\\` (no false
    /// negatives; a false positive only sends the word through the byte-by-byte check).
    /// The usual word-at-a-time tests: a byte below n, or equal to c (zero after xor).
    @inline(__always)
    static func mayNeedEscaping(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasByteBelow(_ n: UInt64, _ x: UInt64) -> Bool { (x &- ones &* n) & ~x & highs != 0 }
        return hasByteBelow(0x20, word) || hasByteBelow(1, word ^ (ones &* 0x22)) || hasByteBelow(1, word ^ (ones &* 0x5C))
    }

    /// Decimal digits written in place, without a `String` per number.
    private mutating func writeInt(_ value: Int64) {
        reserve(20)  // "-9223372036854775808"
        if value < 0 {
            storage[count] = UInt8(ascii: "-")
            count += 1
        }
        var magnitude = value.magnitude
        var digits = 1
        var rest = magnitude / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        var position = count + digits - 1
        repeat {
            storage[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            position -= 1
        } while magnitude > 0
        count += digits
    }

    private mutating func writeDouble(_ d: Double) {
        guard d.isFinite else { return append("null") }
        if d.rounded() == d, abs(d) < 1e15 {
            writeInt(Int64(d))
        } else {
            var text = "\(d)"
            text.withUTF8 { append($0) }
        }
    }

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(toAtLeast: count + extra) }
    }

    private mutating func grow(toAtLeast needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newStorage = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newStorage.initialize(from: storage, count: count)
        storage.deallocate()
        storage = newStorage
        capacity = newCapacity
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        reserve(1)
        storage[count] = byte
        count += 1
    }

    private mutating func append(_ run: UnsafeBufferPointer<UInt8>) {
        guard let base = run.baseAddress else { return }
        reserve(run.count)
        (storage + count).initialize(from: base, count: run.count)
        count += run.count
    }

    private mutating func append(_ ascii: StaticString) {
        append(UnsafeBufferPointer(start: ascii.utf8Start, count: ascii.utf8CodeUnitCount))
    }
}

extension JSONValue {
    /// The compact JSON bytes of this value.
    public func serialized() -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: 1024)
        writer.write(self)
        return writer.bytes
    }

    /// The compact JSON text of this value.
    public func serializedString() -> String {
        withSerialized { String(decoding: $0, as: UTF8.self) }
    }

    /// Hands the compact JSON bytes to `body` without copying them into an array first
    /// (a response body is copied once, into its buffer).
    public func withSerialized<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        var writer = JSONWriter(reservingCapacity: 1024)
        writer.write(self)
        return try writer.withBytes(body)
    }
}

extension JSONWriter {
    /// Reads the bytes written so far without copying them.
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage, count: count))
    }
}
