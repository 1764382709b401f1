@_spi(StoreImplementation) import Stepwise

/// Text compared, hashed and ordered by its UTF-8 bytes, as SQLite's BINARY collation does.
///
/// Swift's `==` holds canonically equivalent strings equal (é and e + U+0301), but to a sender,
/// to JSON and to every other store they are different names, dedupe ids and keys: every key
/// of the in-memory tables is compared this way, never with `String`'s `==`.
struct ExactText: Hashable, Comparable, Sendable {
    let string: String

    init(_ string: String) {
        self.string = string
    }

    static func == (lhs: ExactText, rhs: ExactText) -> Bool {
        lhs.string.utf8.elementsEqual(rhs.string.utf8)
    }

    func hash(into hasher: inout Hasher) {
        let utf8 = string.utf8
        hasher.combine(utf8.count)
        let hashed: Void? = utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil {
            for byte in utf8 { hasher.combine(byte) }
        }
    }

    /// Byte order: the order of SQLite's BINARY collation, so listings sort as they do there.
    static func < (lhs: ExactText, rhs: ExactText) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }
}

extension ExactText {
    /// Whether two optional texts are the same bytes (two `nil`s are).
    static func same(_ lhs: String?, _ rhs: String?) -> Bool {
        switch (lhs, rhs) {
        case (nil, nil): return true
        case (let lhs?, let rhs?): return lhs.utf8.elementsEqual(rhs.utf8)
        default: return false
        }
    }
}

extension InMemoryStore {
    /// An app of an environment: how functions, schedules and due runs are looked up.
    struct AppKey: Hashable, Sendable {
        let environment: ExactText
        let appID: ExactText

        init(_ environment: String, _ appID: String) {
            self.environment = ExactText(environment)
            self.appID = ExactText(appID)
        }
    }

    /// A function of an app of an environment.
    struct FunctionKey: Hashable, Sendable {
        let app: AppKey
        let functionID: ExactText

        init(_ environment: String, _ appID: String, _ functionID: String) {
            self.app = AppKey(environment, appID)
            self.functionID = ExactText(functionID)
        }
    }

    /// A dedupe id of an environment.
    struct DedupeKey: Hashable, Sendable {
        let environment: ExactText
        let dedupeID: ExactText
    }

    /// What a dedupe id holds: the event first accepted with it, and when its window began.
    struct DedupeEntry: Sendable {
        let eventID: EventID
        let acceptedAt: Int64
    }

    /// The one run a function gets per event (reruns aside): a retried append must not start
    /// a second.
    struct TriggeredRunKey: Hashable, Sendable {
        let function: FunctionKey
        let eventID: EventID
    }

    /// A stored event with the payload texts it was sent with: a seeded retry is compared with
    /// them byte for byte, as the sender wrote them.
    struct EventRow: Sendable {
        let event: StoredEvent
        let dataText: String
        let userText: String?
    }

    /// A registered function: its triggers, settings and schedules.
    struct FunctionRow: Sendable {
        let appID: String
        let functionID: String
        let registeredAt: Int64
        let settings: FunctionSettings
        let triggers: [TriggerRegistration]
        var schedules: [ScheduleRow]
    }

    /// A cron schedule of a function and its next tick (`Int64.max` when none is left).
    struct ScheduleRow: Sendable {
        let expression: String
        let timeZone: String
        var nextAt: Int64

        func isSame(expression: String, timeZone: String) -> Bool {
            ExactText.same(self.expression, expression) && ExactText.same(self.timeZone, timeZone)
        }
    }

    /// A run, with its lease token and the order it was inserted in (which breaks ties between
    /// runs due at the same time).
    struct RunRow: Sendable {
        let id: RunID
        let environment: String
        let appID: String
        let functionID: String
        /// The events that started it, in order; the first is its ``RunRecord/eventID``. A
        /// batch's grows while it is open; a debounced run's is replaced by a later event.
        var eventIDs: [EventID]
        var status: RunStatus
        var attempt: Int
        var output: JSON?
        var error: ErrorRecord?
        let createdAt: Int64
        var startedAt: Int64?
        var endedAt: Int64?
        var availableAt: Int64?
        let rerunOf: RunID?
        var leaseToken: Int64
        let sequence: Int
        var flow: RunFlow
        /// The concurrency key whose limit holds the run back, until a run leaves it; while
        /// parked, the run is not due (`availableAt` is `nil`) and `parkedDue` keeps when it was.
        var parkedOn: String?
        var parkedDue: Int64?

        var app: AppKey { AppKey(environment, appID) }
        var eventID: EventID { eventIDs[0] }
        var function: FunctionKey { FunctionKey(environment, appID, functionID) }
        /// The order parked runs are let go in: the earliest due first, moved by priority.
        var rank: (Int64, Int) { ((parkedDue ?? availableAt ?? Int64.max) - flow.priorityMilliseconds, sequence) }

        var record: RunRecord {
            RunRecord(
                id: id, environment: environment, appID: appID, functionID: functionID, eventID: eventID, status: status,
                attempt: attempt, output: output, error: error, createdAt: createdAt, startedAt: startedAt, endedAt: endedAt,
                availableAt: availableAt, rerunOf: rerunOf, eventCount: eventIDs.count, flow: flow, parkedOn: parkedOn)
        }
    }

    /// A function's rate-limit key: the runs created under it are its window's count.
    struct RateKey: Hashable, Sendable {
        let function: FunctionKey
        let key: ExactText
    }

    /// An event of an environment, whose admission records are kept under it.
    struct AdmissionKey: Hashable, Sendable {
        let environment: ExactText
        let eventID: EventID
    }

    /// A wait is one per run, step and event name: a step's wait registered again keeps its row
    /// and takes the new expiry.
    struct WaitKey: Hashable, Sendable {
        let runID: RunID
        let stepKey: ExactText
        let eventName: ExactText
    }

    /// The waits an event of a name in an environment may resolve.
    struct WaitName: Hashable, Sendable {
        let environment: ExactText
        let eventName: ExactText
    }

    /// A wait as stored: its match value as the compact JSON text the engine indexes
    /// (``WaitMatching/indexedValue(of:atPath:)``), its condition as its text.
    struct WaitRow: Sendable {
        let runID: RunID
        let environment: String
        let kind: RunWait.Kind
        let stepKey: String
        let eventName: String
        let matchPath: String?
        let matchValue: String?
        let condition: String?
        var expiresAt: Int64
        let sequence: Int

        var candidate: WaitCandidate {
            WaitCandidate(runID: runID, stepKey: stepKey, kind: kind, expiresAt: expiresAt, condition: condition)
        }
    }

    /// Everything the store holds, as plain values: the tables of the SQLite schema, and the
    /// indexes that keep the hot look-ups (due runs, waits by name) from scanning everything.
    ///
    /// Written only through a ``Transaction``, which journals each change so that a requirement
    /// that throws leaves the tables as they were.
    struct Tables: Sendable {
        var events: [EventID: EventRow] = [:]
        /// How many events each environment holds: whether it exists.
        var eventCounts: [ExactText: Int] = [:]
        var dedupe: [DedupeKey: DedupeEntry] = [:]
        var functions: [FunctionKey: FunctionRow] = [:]
        var runs: [RunID: RunRow] = [:]
        /// The runs that have not ended, by app: the only ones a claim or a due time looks at.
        var activeRuns: [AppKey: Set<RunID>] = [:]
        var triggeredRuns: [TriggeredRunKey: RunID] = [:]
        /// Each run's steps, in the order they were first recorded.
        var steps: [RunID: [StepRecord]] = [:]
        /// Every attempt a checkpoint recorded, by run.
        var attempts: [RunID: [StepAttempt]] = [:]
        var waits: [WaitKey: WaitRow] = [:]
        var waitsByName: [WaitName: Set<WaitKey>] = [:]
        var waitsByRun: [RunID: Set<WaitKey>] = [:]
        /// The runs executing under each concurrency key, those queued and due (the key's
        /// turn), and those parked on it.
        var runningByKey: [ExactText: Set<RunID>] = [:]
        var dueByKey: [ExactText: Set<RunID>] = [:]
        var parkedByKey: [ExactText: Set<RunID>] = [:]
        /// Each throttle key's theoretical arrival time, in microseconds.
        var throttles: [ExactText: Int64] = [:]
        var runsByRateKey: [RateKey: Set<RunID>] = [:]
        /// Why accepted events started no run of a function.
        var admissions: [AdmissionKey: [AdmissionRecord]] = [:]
        /// Where insertion order is counted (runs, waits). Not journaled: a rolled-back
        /// transaction leaves a gap, which orders nothing differently.
        var sequence = 0
    }
}
