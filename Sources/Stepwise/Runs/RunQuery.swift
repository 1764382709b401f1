/// Which runs to list, newest first.
public struct RunQuery: Sendable, Hashable {
    public var environment: String
    public var functionID: String?
    public var status: RunStatus?
    /// Only the runs this event triggered.
    public var eventID: EventID?
    public var limit: Int
    /// Runs older than this one (the last id of the previous page).
    public var before: RunID?

    public init(
        environment: String = "default", functionID: String? = nil, status: RunStatus? = nil, eventID: EventID? = nil,
        limit: Int = 50, before: RunID? = nil
    ) {
        self.environment = environment
        self.functionID = functionID
        self.status = status
        self.eventID = eventID
        self.limit = limit
        self.before = before
    }
}

/// One page of runs, newest first.
public struct RunPage: Sendable, Hashable {
    /// The runs of the page, newest first.
    public let runs: [RunRecord]
    /// Where the next (older) page starts — pass it as `before` — or `nil` on the last page.
    public let nextCursor: RunID?

    /// A page of `runs`, followed by the page before `nextCursor`, if any.
    public init(runs: [RunRecord], nextCursor: RunID?) {
        self.runs = runs
        self.nextCursor = nextCursor
    }
}
