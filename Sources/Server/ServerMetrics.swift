import Foundation
import Prometheus
import Synchronization

/// Every metric the server exports, in one place.
///
/// swift-prometheus stops the process when one name is registered with two help texts or
/// two types, so each family is declared once here, with its help, and every caller goes
/// through these typed accessors. Labelled children are created on first use and cached:
/// label values always come from bounded sets (enums, tool names, token names), never from
/// an IP address, a token value, a session id or a path.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let counters = Mutex<[Key: Counter]>([:])
    private let gauges = Mutex<[Key: Gauge]>([:])
    private let histograms = Mutex<[Key: DurationHistogram]>([:])
    private let requestPairs = Mutex<[Labels: RequestMetrics]>([:])
    private let responseCounters = Mutex<[Int: Counter]>([:])

    /// A family's name and label values (at most three), hashed as they are: joining them
    /// into one string, or passing them as an array, cost allocations on every lookup,
    /// several times per request. The name is hashed once, when its family is declared, and
    /// only the labels in use are hashed: lookups were 1 % of a `tools/call`'s CPU.
    private struct Key: Hashable {
        let name: String
        let nameHash: Int
        let labels: Labels

        func hash(into hasher: inout Hasher) {
            hasher.combine(nameHash)
            labels.hash(into: &hasher)
        }
    }

    private struct Labels: Hashable {
        var count = 0
        var first = "", second = "", third = ""

        func hash(into hasher: inout Hasher) {
            if count > 0 { hasher.combine(first) }
            if count > 1 { hasher.combine(second) }
            if count > 2 { hasher.combine(third) }
        }

        init() {}
        init(_ first: String) { (count, self.first) = (1, first) }
        init(_ first: String, _ second: String) { (count, self.first, self.second) = (2, first, second) }
        init(_ first: String, _ second: String, _ third: String) {
            (count, self.first, self.second, self.third) = (3, first, second, third)
        }

        var values: [String] { Array([first, second, third].prefix(count)) }
    }
    private let startedAt = ContinuousClock.now
    /// Run before each rendering: gauges read from a shared state (the connection gate's),
    /// brought up to date when someone looks rather than on every change.
    private let refreshers = Mutex<[@Sendable () -> Void]>([])

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    /// A metric family: name, help and label names, declared once.
    public struct Family: Sendable, Hashable {
        public let name: String
        public let help: String
        public let labels: [String]
        /// `name`'s hash, computed once (see ``Key``).
        let nameHash: Int

        /// Made on demand: swift-prometheus's descriptor is not `Sendable`.
        var descriptor: MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }

        public init(_ name: String, _ help: String, labels: [String] = []) {
            self.name = name
            self.help = help
            self.labels = labels
            nameHash = name.hashValue
        }
    }

    // One overload per label count: a variadic parameter would be an array per call.
    public func counter(_ family: Family) -> Counter { counter(family, Labels()) }
    public func counter(_ family: Family, _ a: String) -> Counter { counter(family, Labels(a)) }
    public func counter(_ family: Family, _ a: String, _ b: String) -> Counter { counter(family, Labels(a, b)) }
    public func counter(_ family: Family, _ a: String, _ b: String, _ c: String) -> Counter { counter(family, Labels(a, b, c)) }

    public func gauge(_ family: Family) -> Gauge { gauge(family, Labels()) }
    public func gauge(_ family: Family, _ a: String) -> Gauge { gauge(family, Labels(a)) }
    public func gauge(_ family: Family, _ a: String, _ b: String) -> Gauge { gauge(family, Labels(a, b)) }

    public func histogram(_ family: Family) -> DurationHistogram { histogram(family, Labels()) }
    public func histogram(_ family: Family, _ a: String) -> DurationHistogram { histogram(family, Labels(a)) }
    public func histogram(_ family: Family, _ a: String, _ b: String) -> DurationHistogram { histogram(family, Labels(a, b)) }

    /// A JSON-RPC request's count and duration (`mcp_rpc_requests_total`,
    /// `mcp_rpc_request_duration_seconds`), found with one lookup: both are recorded for
    /// every request, and two lookups, each hashing both labels under a lock, were 0.5 % of a
    /// `tools/call`'s CPU.
    public struct RequestMetrics: Sendable {
        public let count: Counter
        public let duration: DurationHistogram
    }

    public func request(method: String, transport: String) -> RequestMetrics {
        let labels = Labels(method, transport)
        if let found = requestPairs.withLock({ $0[labels] }) { return found }
        let made = RequestMetrics(count: counter(.rpcRequests, labels), duration: histogram(.rpcDuration, labels))
        requestPairs.withLock { $0[labels] = made }
        return made
    }

    /// `mcp_http_responses_total` for `status`, keyed by the number: no label string is
    /// made and hashed for every response.
    public func responses(status: Int) -> Counter {
        if let found = responseCounters.withLock({ $0[status] }) { return found }
        let made = counter(.httpResponses, Labels(String(status)))
        responseCounters.withLock { $0[status] = made }
        return made
    }

    private func counter(_ family: Family, _ labels: Labels) -> Counter {
        let key = Self.key(family, labels)
        return counters.withLock { cache in
            if let counter = cache[key] { return counter }
            let counter = registry.makeCounter(descriptor: family.descriptor, labels: Self.pairs(family, labels))
            cache[key] = counter
            return counter
        }
    }

    private func gauge(_ family: Family, _ labels: Labels) -> Gauge {
        let key = Self.key(family, labels)
        return gauges.withLock { cache in
            if let gauge = cache[key] { return gauge }
            let gauge = registry.makeGauge(descriptor: family.descriptor, labels: Self.pairs(family, labels))
            cache[key] = gauge
            return gauge
        }
    }

    private func histogram(_ family: Family, _ labels: Labels) -> DurationHistogram {
        let key = Self.key(family, labels)
        return histograms.withLock { cache in
            if let histogram = cache[key] { return histogram }
            let histogram = registry.makeDurationHistogram(
                descriptor: family.descriptor, labels: Self.pairs(family, labels), buckets: Self.latencyBuckets)
            cache[key] = histogram
            return histogram
        }
    }

    /// Runs `refresh` before every rendering of the exposition.
    func beforeRender(_ refresh: @escaping @Sendable () -> Void) {
        refreshers.withLock { $0.append(refresh) }
    }

    /// The text exposition, with the uptime and the refreshed gauges brought up to date first.
    public func render() -> [UInt8] {
        gauge(.uptime).set(to: (ContinuousClock.now - startedAt).seconds)
        for refresh in refreshers.withLock({ $0 }) { refresh() }
        return registry.emitToBuffer()
    }

    private static func key(_ family: Family, _ labels: Labels) -> Key {
        precondition(labels.count == family.labels.count, "\(family.name) takes labels \(family.labels)")
        return Key(name: family.name, nameHash: family.nameHash, labels: labels)
    }

    private static func pairs(_ family: Family, _ labels: Labels) -> [(String, String)] {
        Array(zip(family.labels, labels.values))
    }

    /// 100 µs to 60 s: tool calls reach the upper end, ping and tools/list the lower.
    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60),
    ]
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension ServerMetrics.Family {
    // The Go server's names, kept for existing dashboards.
    public static let uptime = Self("mcp_server_uptime_seconds", "Seconds since the server started.")
    public static let toolsRegistered = Self("mcp_tools_registered_total", "Tools offered by this server.")
    public static let resourcesRegistered = Self("mcp_resources_registered_total", "Resources offered by this server.")
    public static let rpcRequests = Self(
        "mcp_rpc_requests_total", "JSON-RPC requests handled.", labels: ["method", "transport"])
    public static let rpcDuration = Self(
        "mcp_rpc_request_duration_seconds", "Time to answer a JSON-RPC request.", labels: ["method", "transport"])
    public static let rpcErrors = Self(
        "mcp_rpc_errors_total", "JSON-RPC error responses.", labels: ["method", "error_code", "transport"])
    public static let httpActiveConnections = Self(
        "mcp_http_active_connections", "Open connections on the public listeners (same as mcp_connections_active).")
    public static let sseConnectionsActive = Self("mcp_sse_connections_active", "Open SSE streams.")
    public static let sseEventsSent = Self("mcp_sse_events_sent_total", "SSE events sent.", labels: ["event_type"])

    // Connections and TLS.
    public static let connectionsActive = Self("mcp_connections_active", "Open connections on the public listeners.")
    public static let connectionsMax = Self("mcp_connections_max", "Configured maximum of open connections.")
    public static let connectionsRejected = Self(
        "mcp_connections_rejected_total", "Connections closed at accept, by reason.", labels: ["reason"])
    public static let connectionsEvicted = Self(
        "mcp_connections_evicted_total", "Connections the server closed to stay within a cap, by the cap: global_cap and handshakes to make room for a new connection (an idle keep-alive one, the oldest of the address holding the most); unsent_bytes, the connection longest without the kernel taking any of its answer (or its SSE stream an event) once all connections' unsent answer bytes and queued events passed limits.max_unsent_bytes; body_bytes, the connection whose request body has gone longest without progress (16 KiB received) once all bodies still arriving passed limits.max_buffered_body_bytes; ops_cap on the ops listener.",
        labels: ["reason"])
    public static let unsentBytes = Self(
        "mcp_unsent_bytes", "Answer bytes handed to the public connections as writes over 16 KiB whose write has not completed, and events queued on SSE streams, summed.")
    public static let unsentBytesMax = Self("mcp_unsent_bytes_max", "Configured limits.max_unsent_bytes.")
    public static let bufferedBodyBytes = Self(
        "mcp_buffered_body_bytes", "Memory held by the request bodies being collected on the public connections (those that did not come whole with their head), summed: each counts as its buffer, grown to a power of two.")
    public static let bufferedBodyBytesMax = Self("mcp_buffered_body_bytes_max", "Configured limits.max_buffered_body_bytes.")
    public static let tlsHandshakes = Self("mcp_tls_handshakes_total", "TLS handshakes by result.", labels: ["result"])
    public static let backendConnectionWaits = Self(
        "mcp_backend_connection_waits_total",
        "Backend requests that waited for a place under tools.max_backend_connections, by how the wait ended.", labels: ["result"])
    public static let tlsHandshakesInProgress = Self(
        "mcp_tls_handshakes_in_progress", "TLS handshakes in progress on the public listeners.")
    public static let tlsHandshakeDuration = Self(
        "mcp_tls_handshake_duration_seconds", "Duration of successful TLS handshakes.")
    public static let tlsBackpressure = Self(
        "mcp_tls_backpressure_total", "Times a TLS connection paused its reads (unsent ciphertext over half its cap) or was closed at the cap.",
        labels: ["event"])
    public static let tlsKeyUpdatesExceeded = Self(
        "mcp_tls_key_updates_exceeded_total", "TLS connections closed for sending more KeyUpdates than tls.max_key_updates.")
    public static let tlsCertNotAfter = Self(
        "mcp_tls_cert_not_after_seconds", "Expiry of the served certificate, as a Unix time.")
    public static let configReloads = Self(
        "mcp_config_reloads_total", "Certificate and token reloads by what and result.", labels: ["what", "result"])

    // Authentication and rate limits.
    public static let authFailures = Self("mcp_auth_failures_total", "Rejected credentials by reason.", labels: ["reason"])
    public static let authLockouts = Self("mcp_auth_lockouts_total", "Client addresses locked out after failures.")
    public static let authLockoutsEvicted = Self(
        "mcp_auth_lockouts_evicted_total", "Lockouts dropped before their end from a full failure table whose oldest keys were all locked out.")
    /// Token *names* come from the configuration: a bounded label set (DESIGN.md principle 5).
    public static let tokenRequests = Self(
        "mcp_token_requests_total", "Authenticated requests by token name and rate-limit outcome.", labels: ["token", "outcome"])
    public static let rateLimitDecisions = Self(
        "mcp_ratelimit_decisions_total", "Rate limit decisions.", labels: ["limiter", "outcome"])
    public static let rateLimitKeys = Self("mcp_ratelimit_keys", "Keys held by a rate limiter.", labels: ["limiter"])
    public static let rateLimitEvictions = Self(
        "mcp_ratelimit_evictions_total", "Keys evicted from a full limiter table.", labels: ["limiter"])

    // Sessions, streams, calls.
    public static let sessionsActive = Self("mcp_sessions_active", "Open Streamable HTTP and legacy SSE sessions.")
    public static let sessionsMax = Self("mcp_sessions_max", "Configured maximum of sessions.")
    public static let sessionsRejected = Self(
        "mcp_sessions_rejected_total", "Sessions refused at a cap, by reason.", labels: ["reason"])
    public static let sessionsExpired = Self("mcp_sessions_expired_total", "Sessions closed for being idle.")
    public static let sessionsRevoked = Self("mcp_sessions_revoked_total", "Sessions ended because their token was removed, rotated, narrowed or expired.")
    public static let sseStreamsMax = Self("mcp_sse_streams_max", "Configured maximum of open SSE streams.")
    public static let sseStreamsRejected = Self(
        "mcp_sse_streams_rejected_total", "SSE streams refused at a cap, by reason (global_cap, per_token_cap, per_session, draining).", labels: ["reason"])
    public static let replayEventsDropped = Self(
        "mcp_replay_events_dropped_total", "Events dropped from a session's replay buffer at its event or byte cap (a resume that needs them is refused).")
    public static let sseSlowReaders = Self(
        "mcp_sse_slow_reader_disconnects_total", "SSE streams cut off because the client stopped reading.")
    public static let inflightRejected = Self(
        "mcp_inflight_calls_rejected_total", "Tool calls refused at an in-flight cap, by reason (per_key, global; request_bytes: limits.max_inflight_request_bytes; per_session: a legacy SSE POST whose requests would pass limits.max_inflight_per_token plus server.max_batch waiting to start on its session).", labels: ["reason"])
    public static let inflightCalls = Self("mcp_inflight_calls", "Tool calls running now (limits.max_inflight caps them).")
    public static let inflightCallsMax = Self("mcp_inflight_calls_max", "Configured maximum of tool calls running at once.")
    public static let inflightRequestBytes = Self(
        "mcp_inflight_request_bytes", "About the memory the requests of the tool calls running hold, summed (limits.max_inflight_request_bytes caps it).")
    public static let inflightRequestBytesMax = Self("mcp_inflight_request_bytes_max", "Configured limits.max_inflight_request_bytes.")
    public static let toolCalls = Self("mcp_tool_calls_total", "Tool calls by tool and outcome.", labels: ["tool", "outcome"])
    public static let toolLimits = Self(
        "mcp_tool_limits_total", "Tool calls that reached a cap, by tool and cap (result_bytes: cut at tools.max_result_bytes; backend_response_bytes: a backend answer refused as too large; backend_pages: a list or search stopped at the pages it may read; deadline: a list or search stopped to answer with what it read before the call's deadline; backend_error: a list or search stopped at a backend failure after reading part of it, answering with that part).",
        labels: ["tool", "limit"])
    public static let timeouts = Self("mcp_timeouts_total", "Deadlines that fired, by phase.", labels: ["phase"])
    public static let inputRefused = Self(
        "mcp_input_refused_total", "Messages refused at an input cap, by cap (body, json_depth, json_values, batch, batch_answer).",
        labels: ["cap"])
    public static let httpResponses = Self("mcp_http_responses_total", "HTTP responses by status code.", labels: ["code"])
    public static let opsRefused = Self(
        "mcp_ops_requests_refused_total", "Ops listener requests refused: a Host it does not answer for (421), a body (413).", labels: ["reason"])
}
