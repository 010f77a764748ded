import Dispatch
import Foundation
import Prometheus
import HTTPTypes
import Hummingbird
import NIOCore

/// Builds an event-stream response around an ``SSEStream``.
///
/// The body runs three things together: the pump that writes queued events to the socket,
/// an optional `work` task (the request being answered, which finishes the stream when
/// done), and a membership in the shared keep-alive ticker (``SSEKeepAlive``). When the
/// client goes away the pump fails and the work is cancelled (2026-07-28
/// streamable-http.mdx: closing the response stream cancels the request), unless
/// `cancelsWorkOnClose` is false (the 2025 revisions: "Disconnection SHOULD NOT be
/// interpreted as the client cancelling its request"). When the queue overflows the
/// connection is closed: the reader had stalled.
struct SSEResponse {
    enum KeepAlive: Sendable {
        /// `: ping` comments (Streamable HTTP and MCP legacy SSE).
        case comment
        /// The Go server's `event: ping` with `{"timestamp":<unix seconds>}`.
        case pingEvent
    }

    static func make(
        stream: SSEStream,
        channel: any Channel,
        watch: ConnectionWatch,
        keepAlive: KeepAlive,
        interval: Duration,
        headers: HTTPFields = [:],
        work: (@Sendable () async -> Void)? = nil,
        cancelsWorkOnClose: Bool = true,
        unsent: SharedByteBudget? = nil,
        onEnd: @escaping @Sendable () -> Void
    ) -> Response {
        var fields = HTTPReplies.sseHeaders
        for field in headers { fields.append(field) }
        if let unsent { stream.charge(to: unsent, on: channel) }
        // A stalled reader leaves the pump parked in a write: close the connection directly.
        stream.onOverflow { channel.close(promise: nil) }
        let body = ResponseBody { writer in
            // A client that goes away ends the stream at once, not at the next ping.
            watch.onClose { stream.close() }
            defer { watch.clear() }
            // Keep-alive from the shared ticker of this interval (no timer per stream).
            let keepAliveMembership = SSEKeepAlive.shared.join(interval: interval) {
                switch keepAlive {
                case .comment: stream.sendComment("ping")
                case .pingEvent: stream.send(event: "ping", data: #"{"timestamp":\#(UnixTime.seconds)}"#)
                }
            }
            let end: SSEStream.End?
            if let work {
                // The request being answered runs beside the pump; a task group only when
                // there is one (≈ 0.6 KiB per stream otherwise, for nothing).
                end = await withTaskGroup(of: Void.self) { group in
                    group.addTask { await work() }
                    let end = try? await stream.pump(into: &writer)
                    // Otherwise the group waits for the work to finish (within its tool timeout).
                    if cancelsWorkOnClose { group.cancelAll() }
                    return end
                }
            } else {
                end = try? await stream.pump(into: &writer)
            }
            SSEKeepAlive.shared.leave(keepAliveMembership)
            onEnd()
            switch end {
            case .finished?:
                try await writer.finish(nil)
            case .overflow?, .closed?, nil:
                // A stalled reader or a vanished client: drop the connection.
                channel.close(promise: nil)
            }
        }
        return Response(status: .ok, headers: fields, body: body)
    }
}

enum UnixTime {
    static var seconds: Int64 {
        Int64(time(nil))
    }
}
