/// Where a run is in its life.
///
/// A run is created `queued` with the event that triggers it, is `running` while a worker
/// holds its lease, goes back to `queued` to wait for a retry, is `sleeping` or `waiting` (for
/// an event) while set aside with no task or memory held, and ends once: `completed`,
/// `failed` or `cancelled`.
public enum RunStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case queued
    case running
    /// Set aside by `step.sleep` until a time.
    case sleeping
    /// Set aside by `step.waitForEvent` until a matching event arrives or the wait times out.
    case waiting
    case completed
    case failed
    case cancelled

    /// Whether the run has ended; an ended run never changes again.
    public var isFinal: Bool {
        switch self {
        case .completed, .failed, .cancelled: return true
        case .queued, .running, .sleeping, .waiting: return false
        }
    }
}

/// An error as Stepwise records it: the thrown value's type name and its description, which
/// is what survives a process restart of the error a step or function threw.
public struct ErrorRecord: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The Swift type of the thrown error, such as `MyApp.PaymentError`.
    public let name: String
    public let message: String

    public init(name: String, message: String) {
        self.name = name
        self.message = message
    }

    /// The record of a thrown error. Stepwise's own wrappers record what they wrap, so that
    /// a step's `NonRetriableError(PaymentDeclined())` is recorded as the payment error.
    public init(_ error: any Error) {
        switch error {
        case let error as NonRetriableError:
            self = error.record
        case let error as RetryAfterError:
            self = error.record
        case let error as StepError:
            self = error.error
        default:
            self.init(name: String(reflecting: type(of: error)), message: String(describing: error))
        }
    }

    public var description: String { "\(name): \(message)" }

    /// The type name a cancelled run's error carries.
    public static let runCancelledName = "Stepwise.RunCancelled"

    /// Why a store failed a run in its claim (DESIGN.md, invariant 7): its event or a step of
    /// it cannot be read, named by `reason`. Every store fails such a run with this error, so
    /// that tools can tell it from the function's own failures.
    public static func unreadableRun(reason: String) -> ErrorRecord {
        ErrorRecord(name: "Stepwise.UnreadableRun", message: "the run cannot be replayed: \(reason)")
    }

    /// Why a run was cancelled, as its record keeps it: `reason` is the one its
    /// `stepwise/function.cancelled` event carries (`api`, `cancelOn`, `timeouts.start`,
    /// `timeouts.finish`).
    public static func runCancelled(reason: String) -> ErrorRecord {
        ErrorRecord(name: runCancelledName, message: reason)
    }
}

/// A function run as stored: one run per function per triggering event.
public struct RunRecord: Sendable, Hashable, Identifiable {
    public let id: RunID
    public let environment: String
    public let appID: String
    public let functionID: String
    /// The event that triggered the run.
    public let eventID: EventID
    public let status: RunStatus
    /// How many times the function failed outside any step (each such failure retries it).
    public let attempt: Int
    /// The function's return value, once completed.
    public let output: JSON?
    /// Why the run failed, once failed (or the last error, while it waits to retry); why it
    /// was cancelled, once cancelled (``ErrorRecord/runCancelled(reason:)``).
    public let error: ErrorRecord?
    // The times in milliseconds since the epoch, as the store keeps them; users read them as
    // `Date`s (`creationDate`, `startDate`, `endDate`, `availableDate`).
    package let createdAt: Int64
    package let startedAt: Int64?
    package let endedAt: Int64?
    /// When a queued run may next be claimed, or when a running run's lease runs out.
    package let availableAt: Int64?
    /// The run this one reruns (`POST /v1/runs/{id}/rerun`), or `nil` for a run its event
    /// triggered.
    public let rerunOf: RunID?
    /// How many events started the run: one, or a batch's (``eventID`` is then the first).
    public let eventCount: Int
    /// Its flow-control keys, as they were worked out when its event was accepted.
    public let flow: RunFlow
    /// The identity of the concurrency key (``RunFlow/Concurrency/identity``) whose limit
    /// holds the run back while it is due: it is parked until a run holding that key leaves
    /// it. `nil` for a run that is not held back by a concurrency limit.
    public let parkedOn: String?

    /// A run as a store reads it back, its times in milliseconds since the epoch.
    public init(
        id: RunID, environment: String, appID: String, functionID: String, eventID: EventID, status: RunStatus,
        attempt: Int, output: JSON?, error: ErrorRecord?, createdAt: Int64, startedAt: Int64?, endedAt: Int64?,
        availableAt: Int64?, rerunOf: RunID? = nil, eventCount: Int = 1, flow: RunFlow = RunFlow(), parkedOn: String? = nil
    ) {
        self.flow = flow
        self.parkedOn = parkedOn
        self.id = id
        self.environment = environment
        self.appID = appID
        self.functionID = functionID
        self.eventID = eventID
        self.status = status
        self.attempt = attempt
        self.output = output
        self.error = error
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.availableAt = availableAt
        self.rerunOf = rerunOf
        self.eventCount = eventCount
    }
}

/// What kind of step a record is.
public enum StepKind: String, Sendable, Hashable, Codable {
    /// `step.run`: a body whose result is recorded.
    case run
    /// `step.sendEvent`: events emitted exactly once.
    case sendEvent
    /// `step.sleep` and `step.sleepUntil`: the run is set aside until a time.
    case sleep
    /// `step.waitForEvent`: the run is set aside until a matching event or a timeout.
    case waitForEvent
    /// `step.invoke`: another function runs, and this run waits for its end.
    case invoke
}

/// Where a step is.
public enum StepStatus: String, Sendable, Hashable, Codable {
    /// Its result is recorded: replay returns it.
    case completed
    /// An attempt failed and the step will be tried again.
    case errored
    /// A sleep or a wait in progress: its output holds `until`, when it ends.
    case waiting
    /// It failed for good: replay throws its error.
    case failed
}

/// One step of a run, as recorded.
public struct StepRecord: Sendable, Hashable {
    public let runID: RunID
    /// The step's key: its id, then `:1`, `:2`… for later steps with the same id.
    public let key: String
    /// The id the function gave the step.
    public let stepID: String
    public let kind: StepKind
    public let status: StepStatus
    /// The recorded result, when completed.
    public let output: JSON?
    /// The last error, when errored or failed.
    public let error: ErrorRecord?
    /// How many attempts failed so far.
    public let failedAttempts: Int
    // In milliseconds since the epoch, as stored; users read `startDate` and `endDate`.
    package let startedAt: Int64
    package let endedAt: Int64

    /// A step as a store reads it back, its times in milliseconds since the epoch.
    public init(
        runID: RunID, key: String, stepID: String, kind: StepKind, status: StepStatus, output: JSON?, error: ErrorRecord?,
        failedAttempts: Int, startedAt: Int64, endedAt: Int64
    ) {
        self.runID = runID
        self.key = key
        self.stepID = stepID
        self.kind = kind
        self.status = status
        self.output = output
        self.error = error
        self.failedAttempts = failedAttempts
        self.startedAt = startedAt
        self.endedAt = endedAt
    }
}
