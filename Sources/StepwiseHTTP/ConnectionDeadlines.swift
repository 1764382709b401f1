import NIOCore

/// The state of one connection that its deadlines follow: where it is in the
/// request-and-answer cycle, and since when. A value that ``ConnectionGuard`` feeds with what
/// it sees and asks for the next deadline; it does no I/O, so it can be tested alone.
struct ConnectionDeadlines {
    /// What a deadline waits for.
    enum Kind: Sendable, Hashable {
        /// A request's first byte, between requests.
        case idle
        /// A request's complete head.
        case header
        /// The end of a request's body.
        case body
    }

    /// The next deadline: what it waits for, and when it passes.
    struct Deadline: Sendable, Hashable {
        let kind: Kind
        let instant: NIODeadline
    }

    private var openedAt = NIODeadline.now()
    /// Whether no request has started on the connection yet.
    private var isNew = true
    private var idleSince = NIODeadline.now()
    private var headStartedAt: NIODeadline?
    private var lastHeadAt = NIODeadline.now()
    private var heads = 0
    private var ends = 0
    private var answered = 0
    /// Whether an answer's head was written and its end not yet.
    private(set) var hasResponseStarted = false
    /// Whether any byte of the next request's head has arrived: a connection that sent none
    /// when its header deadline passes is closed without an answer, as a silent one.
    private(set) var hasHeadBytes = false

    mutating func connectionOpened(now: NIODeadline) {
        openedAt = now
        idleSince = now
    }

    /// Bytes arrived. Between requests they are the start of a head, whose deadline starts now;
    /// returns whether the deadline changed.
    mutating func bytesArrived(now: NIODeadline) -> Bool {
        guard heads == answered, !hasHeadBytes else { return false }
        hasHeadBytes = true
        // A new connection's head is due from its opening, whenever its first byte comes.
        guard !isNew else { return false }
        headStartedAt = now
        return true
    }

    mutating func headReceived(now: NIODeadline) {
        isNew = false
        heads += 1
        lastHeadAt = now
        headStartedAt = nil
        hasHeadBytes = false
    }

    mutating func endReceived() {
        ends += 1
    }

    /// Whether the request being answered has not been read to its end.
    var isBodyUnread: Bool { ends <= answered && heads > answered }

    mutating func responseStarted() {
        hasResponseStarted = true
    }

    mutating func responseEnded(now: NIODeadline) {
        answered += 1
        hasResponseStarted = false
        idleSince = now
    }

    /// The deadline now in force, or `nil` while a request is being answered: how long an
    /// answer takes is the app's business.
    func deadline(limits: StepwiseServerLimits) -> Deadline? {
        if heads > ends {
            return Deadline(kind: .body, instant: lastHeadAt + TimeAmount(limits.bodyTimeout))
        }
        if heads > answered { return nil }
        if isNew {
            return Deadline(kind: .header, instant: openedAt + TimeAmount(limits.headerTimeout))
        }
        if let headStartedAt {
            return Deadline(kind: .header, instant: headStartedAt + TimeAmount(limits.headerTimeout))
        }
        return Deadline(kind: .idle, instant: idleSince + TimeAmount(limits.idleTimeout))
    }
}
