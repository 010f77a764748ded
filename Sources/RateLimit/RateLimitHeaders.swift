/// `RateLimit-Policy` and `RateLimit` response fields (IETF draft-ietf-httpapi-ratelimit-headers,
/// structured-field form: `RateLimit-Policy: "name";q=<quota>;w=<window s>` and
/// `RateLimit: "name";r=<remaining>;t=<seconds until reset>`), plus `Retry-After`.
///
/// For a GCRA the quota is `burst` requests per window `burst · T` (the time a full bucket takes
/// to refill), so a client that reads the fields and spreads `q` requests over `w` seconds never
/// sees a 429. Seconds are rounded up: announcing a reset too early invites an early retry.
public struct RateLimitHeaders: Sendable, Hashable {
    public let policy: String
    public let state: String
    /// Only for a denial: whole seconds, rounded up (RFC 9110 §10.2.3).
    public let retryAfter: String?

    /// - Parameters:
    ///   - name: the policy name, a short fixed label (`"ip"`, `"token"`, `"tool"`), never a key.
    ///   - gcra: the limit.
    ///   - decision: the decision for this request.
    ///   - tat: the key's TAT after the decision (`KeyedRateLimiter.theoreticalArrivalTime(of:)`),
    ///     nil or 0 for a key not stored.
    ///   - now: the time of the decision.
    public init(name: String, gcra: GCRA, decision: GCRA.Decision, tat: Nanoseconds?, now: Nanoseconds) {
        let label = name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || $0 == "_" || $0 == "-" || ("0"..."9").contains($0)) }
            ? name : "limit"
        let window = (gcra.emissionInterval * Nanoseconds(gcra.burst)).wholeSecondsRoundedUp
        policy = "\"\(label)\";q=\(gcra.burst);w=\(window)"
        let reset = gcra.resetAfter(tat: tat ?? 0, now: now).wholeSecondsRoundedUp
        switch decision {
        case .allow(let remaining):
            state = "\"\(label)\";r=\(remaining);t=\(reset)"
            retryAfter = nil
        case .deny(let wait):
            state = "\"\(label)\";r=0;t=\(reset)"
            retryAfter = String(wait.wholeSecondsRoundedUp)
        }
    }
}
