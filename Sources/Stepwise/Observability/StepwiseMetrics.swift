import Metrics
import Synchronization

/// The metrics a client records, made once from the app's `MetricsFactory` and kept: the hot
/// path (a step, a send) reads a cached object and calls it, and with the no-op factory that
/// call does nothing.
///
/// Names follow OpenTelemetry's semantic conventions where one exists (the messaging client's
/// sent messages and operation duration), and `stepwise.*` otherwise; dimensions are bounded
/// (an app, a function, a status, a kind), never a run's or an event's id, which belong on
/// spans. A Prometheus exporter renders the dots as underscores.
final class StepwiseMetrics: Sendable {
    /// The metric names, written once, for the code, the tests and the docs to share.
    enum Name {
        static let sentMessages = "messaging.client.sent.messages"
        static let sendDuration = "messaging.client.operation.duration"
        static let deduplicated = "stepwise.events.deduplicated"
        static let runsStarted = "stepwise.runs.started"
        static let runsEnded = "stepwise.runs.ended"
        static let runDuration = "stepwise.run.duration"
        static let executionsActive = "stepwise.run.executions.active"
        static let claimDelay = "stepwise.run.claim.delay"
        static let dueAge = "stepwise.runs.due.age"
        static let stepDuration = "stepwise.step.duration"
        static let leasesLost = "stepwise.lease.lost"
    }

    let factory: any MetricsFactory
    let appID: String
    /// Whether a real backend records: the worker's sampling of the oldest due run reads the
    /// store, which is not worth doing for the no-op factory.
    let isRecording: Bool
    let sentMessages: Counter
    let sendDuration: Timer
    let deduplicated: Counter
    let dueAge: Gauge
    private let functions = Mutex<[FunctionKey: FunctionMetrics]>([:])

    init(factory: any MetricsFactory, appID: String) {
        self.factory = factory
        self.appID = appID
        self.isRecording = !(factory is NOOPMetricsHandler)
        let messaging = [("messaging.system", "stepwise"), ("messaging.operation.name", "send"), ("stepwise.app.id", appID)]
        sentMessages = Counter(label: Name.sentMessages, dimensions: messaging, factory: factory)
        sendDuration = Timer(label: Name.sendDuration, dimensions: messaging, preferredDisplayUnit: .seconds, factory: factory)
        deduplicated = Counter(label: Name.deduplicated, dimensions: [("stepwise.app.id", appID)], factory: factory)
        dueAge = Gauge(label: Name.dueAge, dimensions: [("stepwise.app.id", appID)], factory: factory)
    }

    /// The metrics of one function, made on its first use and cached.
    func function(_ functionID: String, app: String? = nil) -> FunctionMetrics {
        let key = FunctionKey(appID: app ?? appID, functionID: functionID)
        return functions.withLock { cache in
            if let cached = cache[key] { return cached }
            let made = FunctionMetrics(key: key, factory: factory)
            cache[key] = made
            return made
        }
    }

    /// Counts a send's events: those stored, and those dropped as duplicates.
    func countSent(accepted: Int, duplicates: Int) {
        if accepted > 0 { sentMessages.increment(by: accepted) }
        if duplicates > 0 { deduplicated.increment(by: duplicates) }
    }

    /// Counts the runs that `events` (a commit's, as the bus receives them) say ended: every
    /// end of a run commits its system event, whichever path ended it (the worker, a cancel,
    /// a `cancelOn` event inside a store's transaction), so this one place sees them all.
    func countRunEnds(in events: [StoredEvent]) {
        for event in events where event.name.hasPrefix(SystemEvent.reservedPrefix) {
            let status: RunStatus
            switch event.name {
            case SystemEvent.functionFinished: status = .completed
            case SystemEvent.functionFailed: status = .failed
            case SystemEvent.functionCancelled: status = .cancelled
            default: continue
            }
            guard let functionID = event.data["function_id"]?.stringValue else { continue }
            function(functionID, app: event.data["app_id"]?.stringValue).ended(status).increment()
        }
    }
}

/// A function's name among the apps of a store.
struct FunctionKey: Hashable, Sendable {
    let appID: String
    let functionID: String
}

/// One function's metrics.
final class FunctionMetrics: Sendable {
    let runsStarted: Counter
    let completed: Counter
    let failed: Counter
    let cancelled: Counter
    let durationCompleted: Timer
    let durationFailed: Timer
    let executionsActive: Meter
    let stepDuration: Timer
    let stepFailedDuration: Timer
    let leasesLost: Counter
    /// By ``ClaimReason``.
    let claimDelays: [ClaimReason: Timer]

    init(key: FunctionKey, factory: any MetricsFactory) {
        typealias Name = StepwiseMetrics.Name
        let function = [("stepwise.app.id", key.appID), ("stepwise.function.id", key.functionID)]
        runsStarted = Counter(label: Name.runsStarted, dimensions: function, factory: factory)
        completed = Counter(label: Name.runsEnded, dimensions: function + [("stepwise.run.status", "completed")], factory: factory)
        failed = Counter(label: Name.runsEnded, dimensions: function + [("stepwise.run.status", "failed")], factory: factory)
        cancelled = Counter(label: Name.runsEnded, dimensions: function + [("stepwise.run.status", "cancelled")], factory: factory)
        durationCompleted = Timer(
            label: Name.runDuration, dimensions: function + [("stepwise.run.status", "completed")], preferredDisplayUnit: .seconds,
            factory: factory)
        durationFailed = Timer(
            label: Name.runDuration, dimensions: function + [("stepwise.run.status", "failed")], preferredDisplayUnit: .seconds,
            factory: factory)
        executionsActive = Meter(label: Name.executionsActive, dimensions: function, factory: factory)
        stepDuration = Timer(
            label: Name.stepDuration, dimensions: function + [("stepwise.step.kind", "run")], preferredDisplayUnit: .seconds,
            factory: factory)
        stepFailedDuration = Timer(
            label: Name.stepDuration, dimensions: function + [("stepwise.step.kind", "run"), ("error.type", "_OTHER")],
            preferredDisplayUnit: .seconds, factory: factory)
        leasesLost = Counter(label: Name.leasesLost, dimensions: function, factory: factory)
        var delays: [ClaimReason: Timer] = [:]
        for reason in ClaimReason.allCases {
            delays[reason] = Timer(
                label: Name.claimDelay, dimensions: function + [("stepwise.claim.reason", reason.rawValue)], preferredDisplayUnit: .seconds,
                factory: factory)
        }
        claimDelays = delays
    }

    func ended(_ status: RunStatus) -> Counter {
        switch status {
        case .failed: failed
        case .cancelled: cancelled
        default: completed
        }
    }
}

/// Why a run was due when a worker claimed it: the dimension of the claim delay, so that a
/// backlog of new runs reads apart from sleeps that woke and leases that ran out.
enum ClaimReason: String, CaseIterable, Sendable {
    /// Its first execution.
    case new
    /// A sleep ended, a wait was answered or timed out.
    case resume
    /// The function or a step failed and its backoff is over.
    case retry
    /// The worker that held it stopped renewing its lease.
    case leaseExpired = "lease_expired"

    init(_ claimed: ClaimedRun) {
        switch claimed.claimedFrom {
        case .running: self = .leaseExpired
        case .sleeping, .waiting: self = .resume
        default:
            if claimed.run.startedAt == nil || claimed.run.startedAt == claimed.claimedAt, claimed.steps.isEmpty, claimed.run.attempt == 0 {
                self = .new
            } else if claimed.run.error != nil || claimed.steps.values.contains(where: { $0.status == .errored }) {
                self = .retry
            } else {
                self = .resume
            }
        }
    }
}
