import Hummingbird
import HummingbirdCore
import HTTPTypes
import Logging
import MCPCore
import NIOCore

/// Answers one request in its task (started by ``RequestDispatcher``): what Hummingbird's
/// `Application` does around its router. The request context (its log lines carry a request
/// id: ``RequestLogMetadata``),
/// any error the routes let through answered 500, the `Date` header (RFC 9110 §6.6.1),
/// then the response.
///
/// A response of known length is written in one hop to the event loop and the task ends.
/// A streamed one (SSE) is written from a new task, so the stream does not keep the
/// routes' deep frames: Swift's task allocator keeps every slab a task has used until the
/// task ends, and the route's handler is the deepest point of a request (≈ 12 KiB of
/// frames in 1 KiB slabs).
struct RequestRunner: Sendable {
    typealias Responder = PublicRoutes
    typealias Spawn = @Sendable (@escaping @Sendable () async -> Void) -> Void
    let responder: Responder
    let logger: Logger
    let dates = HTTPDate()

    func run(_ request: Request, sink: ResponseSink, channel: any Channel, connection: ConnectionMemo, spawn: Spawn) async {
        TaskFrames.reserve(TaskFrames.requestBytes)
        await RequestLogMetadata.$current.withValue(RequestLogMetadata(id: RequestID())) {
            await serve(request, sink: sink, channel: channel, connection: connection, spawn: spawn)
        }
    }

    private func serve(_ request: Request, sink: ResponseSink, channel: any Channel, connection: ConnectionMemo, spawn: Spawn) async {
        var response = await respond(to: request, channel: channel, connection: connection, completeBody: sink.completeBody)
        guard response.status != HTTPReplies.clientClosedRequest else {
            sink.abandon()
            sink.taskEnded()
            return
        }
        // Only this runner sets `Date`: appended, not searched for among the other fields.
        response.headers.append(HTTPField(name: .date, value: dates.now()))
        let head = response.head
        guard response.body.contentLength == nil else {
            try? await response.body.write(WholeBodyWriter(sink: sink, head: head))
            sink.taskEnded()
            return
        }
        let body = response.body
        spawn {
            await Self.stream(head, body, to: sink)
            sink.taskEnded()
        }
    }

    /// Writes a streamed response. When the head cannot be written (the client has already
    /// gone) the body still runs, against a writer that refuses every part: an SSE body
    /// releases what it holds (its stream's slot, its session's attachment, a busy mark)
    /// in its own clean-up, which would otherwise never run.
    static func stream(_ head: HTTPResponse, _ body: ResponseBody, to sink: ResponseSink) async {
        do {
            try await sink.writeHead(head)
        } catch {
            try? await body.write(RefusingBodyWriter())
            return
        }
        try? await body.write(StreamedBodyWriter(sink: sink))
    }

    private func respond(to request: Request, channel: any Channel, connection: ConnectionMemo, completeBody: ByteBuffer?) async -> Response {
        var context = MCPRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
        context.completeBody = completeBody
        context.connection = connection
        do {
            return try await responder.respond(to: request, context: context)
        } catch let refusal as RequestRefusal {
            // Refused below while the route read the body (a malformed chunk, trailers over the
            // caps); the dispatcher closes the connection after this answer.
            return Response(status: refusal.head.status, headers: [.connection: "close"])
        } catch {
            context.logger.debug("unhandled error", metadata: ["error": "\(error)"])
            return Response(status: .internalServerError)
        }
    }
}

/// Collects a body of known length and sends the whole response at `finish`.
private struct WholeBodyWriter: ResponseBodyWriter {
    let sink: ResponseSink
    let head: HTTPResponse
    var body: ByteBuffer?

    init(sink: ResponseSink, head: HTTPResponse) {
        self.sink = sink
        self.head = head
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        if body == nil {
            body = buffer
        } else {
            var buffer = buffer
            body!.writeBuffer(&buffer)
        }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        sink.writeComplete(head, body: body)
    }
}

/// Writes each part as it comes. It waits for the socket when the connection is not
/// writable, and at least once every `unconfirmedLimit` bytes, so the parts handed to the
/// event loop but not yet written stay bounded even when the loop lags behind.
private struct StreamedBodyWriter: ResponseBodyWriter {
    static let unconfirmedLimit = 64 * 1024
    let sink: ResponseSink
    /// Bytes handed to the event loop since the last write that was waited for.
    var unconfirmed = 0

    init(sink: ResponseSink) {
        self.sink = sink
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        unconfirmed += buffer.readableBytes
        if try await sink.writeBody(buffer, wait: unconfirmed > Self.unconfirmedLimit) { unconfirmed = 0 }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        sink.writeEnd(trailingHeaders)
    }
}

/// The writer of a response whose connection is gone: every part fails as a write to the
/// closed channel would.
struct RefusingBodyWriter: ResponseBodyWriter {
    mutating func write(_ buffer: ByteBuffer) async throws {
        throw ChannelError.ioOnClosedChannel
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        throw ChannelError.ioOnClosedChannel
    }
}
