import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Stepwise

/// One connection's defences against a client that is slow, silent or broken, between the
/// HTTP codec and the routes (see ``StepwiseServerLimits``):
///
/// - deadlines: a new connection must complete a request head within `headerTimeout`; a
///   connection between requests is closed after `idleTimeout`, and once a request's first byte
///   arrives its head is due within `headerTimeout`; a body is due whole within `bodyTimeout`
///   of its head, however steadily it trickles. A late head or body is answered 408.
/// - an answer sent before its request's body was read (a 413, a 401) ends the connection:
///   output is shut, reading stops, and the socket closes a moment later, so that a refused
///   body is never read to its end and the client still sees the answer.
/// - `Expect: 100-continue` is answered at once, so a client that asks does not wait.
/// - a request the codec cannot parse (headers too large, conflicting lengths) is answered
///   with the APIs' JSON error shape, `{"error": "…", "status": N}`, and the connection closed.
///
/// Hummingbird's own idle timer restarts on every body part and cannot tell idle time from
/// header time, so this handler takes its place, and the HTTP/1 channel is built without it.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// How long output stays shut before the socket closes after an early answer: time for the
    /// answer to reach the client before a reset could overtake it.
    static let lingerAfterEarlyAnswer: TimeAmount = .milliseconds(500)
    /// Bytes per socket read: 4 KiB, so a connection whose body is not being read holds at most
    /// ~40 KiB of it (ten reads). Measured: with 8 KiB reads, 1 000 stalled uploads took the
    /// server to 189 MiB; a 1 MiB body still takes only 256 reads.
    static let readSize = 4096

    private let limits: StepwiseServerLimits
    private var state = ConnectionDeadlines()
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// Set once this handler has answered or abandoned the request: the routes' later writes
    /// are dropped, and nothing more is read.
    private var isClosing = false

    init(limits: StepwiseServerLimits) {
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Small reads: what a connection whose request is not being read can make the server
        // hold is its async channel's buffer of parts (ten), so ten reads' worth.
        try? context.channel.syncOptions?.setOption(
            ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.readSize))
        // Raw bytes are invisible after the codec: a watcher at the front of the pipeline says
        // when a request's first byte arrives, which starts its header deadline.
        let watcher = RequestByteWatcher(guard: self)
        try? context.pipeline.syncOperations.addHandler(watcher, position: .first)
        state.connectionOpened(now: .now())
        rearm()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    /// The first bytes of a request between requests: its head is due within `headerTimeout`.
    fileprivate func bytesArrived() {
        if state.bytesArrived(now: .now()) { rearm() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isClosing else { return }
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let request):
            state.headReceived(now: .now())
            rearm()
            if request.headerFields[.expect]?.lowercased() == "100-continue" {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
        case .body:
            break
        case .end:
            state.endReceived()
            rearm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !isClosing else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let part = unwrapOutboundIn(data)
        switch part {
        case .head(var response) where response.status.kind != .informational:
            state.responseStarted()
            if state.isBodyUnread {
                // The answer comes before the body was read: say so, and end the connection after it.
                response.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(response)), promise: promise)
                return
            }
        case .end:
            let bodyWasUnread = state.isBodyUnread
            state.responseEnded(now: .now())
            if bodyWasUnread {
                context.writeAndFlush(data, promise: promise)
                closeAfterEarlyAnswer(context: context)
                return
            }
            rearm()
        default:
            break
        }
        context.write(data, promise: promise)
    }

    func read(context: ChannelHandlerContext) {
        // Swallowed once closing: the kernel buffers fill, and the client stops sending.
        guard !isClosing else { return }
        context.read()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !state.hasResponseStarted else {
            context.close(promise: nil)
            return
        }
        let (status, message): (HTTPResponse.Status, String) =
            switch parserError {
            case .headerOverflow:
                (.requestHeaderFieldsTooLarge, "the request's headers are over the limit")
            case .invalidContentLength, .unexpectedContentLength:
                (.badRequest, "malformed HTTP request: conflicting or invalid Content-Length")
            default:
                (.badRequest, "malformed HTTP request: \(parserError)")
            }
        answerAndClose(context: context, status: status, message: message)
    }

    // MARK: Deadlines

    private func rearm() {
        timer?.cancel()
        timer = nil
        guard let context, let deadline = state.deadline(limits: limits) else { return }
        let delay = max(.zero, deadline.instant - NIODeadline.now())
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            timer = nil
            expired(deadline.kind)
        }
    }

    private func expired(_ kind: ConnectionDeadlines.Kind) {
        guard let context, !isClosing else { return }
        switch kind {
        case .idle:
            isClosing = true
            context.close(promise: nil)
        case .header where !state.hasHeadBytes:
            // Nothing was said at all: there is no one to answer.
            isClosing = true
            context.close(promise: nil)
        case .header:
            answerAndClose(context: context, status: .requestTimeout, message: "the request's head took longer than \(limits.headerTimeout)")
        case .body:
            if state.hasResponseStarted {
                isClosing = true
                context.close(promise: nil)
            } else {
                answerAndClose(context: context, status: .requestTimeout, message: "the request's body took longer than \(limits.bodyTimeout)")
            }
        }
    }

    /// Answers in the APIs' JSON error shape from here, past the routes (whose later writes are
    /// dropped), and ends the connection.
    private func answerAndClose(context: ChannelHandlerContext, status: HTTPResponse.Status, message: String) {
        let body = JSON.object(["error": .string(message), "status": .int(Int64(status.code))]).serializedUTF8 + [UInt8(ascii: "\n")]
        let head = HTTPResponse(
            status: status,
            headerFields: [.contentType: "application/json", .contentLength: "\(body.count)", .connection: "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        closeAfterEarlyAnswer(context: context)
    }

    /// Shuts output (the client reads the answer, then end of stream), stops reading, and
    /// closes the socket after ``lingerAfterEarlyAnswer``.
    private func closeAfterEarlyAnswer(context: ChannelHandlerContext) {
        isClosing = true
        timer?.cancel()
        timer = nil
        let loop = context.eventLoop.assumeIsolated()
        context.close(mode: .output).assumeIsolated().whenComplete { _ in
            loop.scheduleTask(in: Self.lingerAfterEarlyAnswer) {
                context.close(promise: nil)
            }
        }
    }
}

/// Tells the ``ConnectionGuard`` when bytes arrive, before the codec makes parts of them.
private final class RequestByteWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let connectionGuard: ConnectionGuard

    init(guard connectionGuard: ConnectionGuard) {
        self.connectionGuard = connectionGuard
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connectionGuard.bytesArrived()
        context.fireChannelRead(data)
    }
}
