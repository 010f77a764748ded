import COpenSSL

/// A TLS failure: what went wrong (`kind`), OpenSSL's own reason text, and the file involved.
///
/// The reason is read from OpenSSL's thread-local error queue (`ERR_error_string_n`) at the
/// moment of failure, and the queue is cleared so that the next call on this thread starts
/// clean (OpenSSL's `SSL_get_error` is only meaningful with an empty queue).
public struct TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// A certificate, key or CA file could not be read or parsed.
        case fileUnreadable = "file_unreadable"
        /// The private key does not belong to the leaf certificate.
        case keyMismatch = "key_mismatch"
        /// A reloaded leaf certificate outside its validity window.
        case certificateExpired = "certificate_expired"
        /// A reloaded leaf certificate whose notBefore is still ahead (retried at every poll).
        case certificateNotYetValid = "certificate_not_yet_valid"
        /// An `SSL_CTX` setting was refused (bad cipher list, out of memory, ...).
        case contextSetup = "context_setup"
        /// The handshake did not complete before the deadline.
        case handshakeTimeout = "handshake_timeout"
        /// The handshake failed (protocol error, no shared cipher, bad certificate, ...).
        case handshakeFailed = "handshake_failed"
        /// The peer closed TCP before the handshake finished.
        case handshakeTruncated = "handshake_truncated"
        /// The peer closed TCP without a close_notify after the handshake (a "ragged EOF").
        case uncleanShutdown = "unclean_shutdown"
        /// A record could not be decrypted or parsed after the handshake.
        case protocolError = "protocol_error"
        /// More ciphertext is buffered than `maxBufferedCiphertext` allows.
        case bufferLimitExceeded = "buffer_limit_exceeded"
        /// The peer sent more TLS 1.3 KeyUpdates than the connection allows.
        case tooManyKeyUpdates = "too_many_key_updates"
        /// A write arrived after the TLS session was shut down.
        case writeAfterClose = "write_after_close"
        /// Making development certificates failed.
        case certificateGeneration = "certificate_generation"
    }

    public var kind: Kind
    /// OpenSSL's reason strings (oldest first), or our own explanation.
    public var reason: String
    /// The file involved, if any.
    public var file: String?
    /// The OpenSSL reason code of the first queued error (`ERR_GET_REASON`), 0 if none.
    public var openSSLReasonCode: Int32
    /// The failure says nothing about the files (no descriptor or memory left, an I/O error):
    /// a reload tries the same files again at its next poll.
    public var isTransient = false

    public init(kind: Kind, reason: String, file: String? = nil, openSSLReasonCode: Int32 = 0) {
        self.kind = kind
        self.reason = reason
        self.file = file
        self.openSSLReasonCode = openSSLReasonCode
    }

    public var description: String {
        var text = "TLS \(kind.rawValue)"
        if let file { text += " (\(file))" }
        return text + ": " + reason
    }

    /// Builds an error from OpenSSL's error queue and empties the queue.
    /// `fallback` is used when the queue holds nothing (e.g. a syscall-level EOF).
    static func drainingQueue(_ kind: Kind, fallback: String, file: String? = nil) -> TLSError {
        let (reasons, firstCode) = OpenSSLErrorQueue.drain()
        return TLSError(
            kind: kind,
            reason: reasons.isEmpty ? fallback : fallback + ": " + reasons.joined(separator: "; "),
            file: file,
            openSSLReasonCode: firstCode
        )
    }
}

/// Reads OpenSSL's per-thread error queue.
enum OpenSSLErrorQueue {
    /// Returns every queued error as text (oldest first) and the first reason code; empties the queue.
    /// Bounded: OpenSSL keeps at most 16 entries per thread.
    static func drain() -> (reasons: [String], firstReasonCode: Int32) {
        var reasons: [String] = []
        var first: Int32 = 0
        var buffer = [CChar](repeating: 0, count: 256)
        for _ in 0..<16 {
            let code = ERR_get_error()
            if code == 0 { break }
            if first == 0 { first = ERR_GET_REASON(code) }
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        ERR_clear_error()
        return (reasons, first)
    }
}
