/// Why a request was not authenticated. `reason` is the `mcp_auth_failures_total{reason}` label.
public enum AuthFailure: Error, Sendable, Hashable, CaseIterable {
    /// No `Authorization` header (or an empty one).
    case missing
    /// Not `Bearer <b64token>` (RFC 6750 §2.1), e.g. another scheme or stray characters.
    case malformed
    /// The header is longer than the configured cap; it was not parsed.
    case tooLong
    /// Well-formed, but matches no configured token.
    case invalid
    /// Matches a token whose expiry has passed.
    case expired
    /// Matches a certificate-bound token on a connection without that client certificate
    /// (RFC 8705 §3: rejected as `invalid_token`).
    case certificateMismatch

    public var reason: String {
        switch self {
        case .missing: return "missing"
        case .malformed: return "malformed"
        case .tooLong: return "too_long"
        case .invalid: return "invalid"
        case .expired: return "expired"
        case .certificateMismatch: return "cert_mismatch"
        }
    }

    /// The RFC 6750 §3.1 error code: none when no credentials were sent (§3: "SHOULD NOT include
    /// an error code"), `invalid_request` for a malformed header, `invalid_token` for a token that
    /// is wrong, expired, or bound to a certificate the connection did not present.
    public var errorCode: String? {
        switch self {
        case .missing: return nil
        case .malformed, .tooLong: return "invalid_request"
        case .invalid, .expired, .certificateMismatch: return "invalid_token"
        }
    }

    /// The `WWW-Authenticate` value for the 401 response (RFC 6750 §3), e.g.
    /// `Bearer realm="mcp", error="invalid_token"`.
    public func wwwAuthenticate(realm: String = "mcp") -> String {
        var value = "Bearer realm=\"\(Self.quoted(realm))\""
        if let errorCode { value += ", error=\"\(errorCode)\"" }
        return value
    }

    /// The `WWW-Authenticate` value for a 403 when a token lacks a scope (RFC 6750 §3.1).
    public static func insufficientScope(_ scope: TokenScope, realm: String = "mcp") -> String {
        "Bearer realm=\"\(quoted(realm))\", error=\"insufficient_scope\", scope=\"\(scope.rawValue)\""
    }

    /// Escapes a quoted-string (RFC 9110 §5.6.4); realms come from configuration.
    private static func quoted(_ text: String) -> String {
        var result = ""
        // Control characters (CR, LF, ...) would split or corrupt the header: drop them.
        for character in text where !character.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            if character == "\"" || character == "\\" { result.append("\\") }
            result.append(character)
        }
        return result
    }
}

/// The outcome of checking one request's credentials.
public enum AuthDecision: Sendable, Hashable {
    case accepted(StoredToken)
    case rejected(AuthFailure)
}
