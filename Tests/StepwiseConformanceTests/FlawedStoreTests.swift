import Stepwise
import StepwiseTesting
import Testing

/// A SQLite store with one flaw of the kind a new store could have, so that the suite is
/// shown to catch it: a case that passed against any store would prove nothing.
struct FlawedStore: Store {
    enum Flaw: CaseIterable, CustomStringConvertible {
        /// Forgets dedupe: every event is stored, whatever its id.
        case noDedupe
        /// Gives leases that run out at once, so a leased run is claimed again.
        case ignoresLeases
        /// Accepts a commit under a stale lease by not saying so.
        case swallowsLeaseLost
        /// Leaves a run claimable after it ended.
        case endsTwice
        /// Writes a step's output as given, not the ids of the events it appended.
        case ignoresAppendedIDs
        /// Keeps a step's waits when the engine says they end.
        case keepsEndedWaits
        /// Appends an invoke's event but starts no run with it.
        case dropsStartedRun

        var description: String {
            switch self {
            case .noDedupe: "no dedupe"
            case .ignoresLeases: "claims leased runs"
            case .swallowsLeaseLost: "a stale commit reports success"
            case .endsTwice: "an ended run is claimed again"
            case .ignoresAppendedIDs: "a step does not record the ids it appended"
            case .keepsEndedWaits: "ended waits are kept"
            case .dropsStartedRun: "a started run is dropped"
            }
        }

        /// The rules this flaw breaks.
        var brokenRules: [String] {
            switch self {
            case .noDedupe: ["a repeated dedupe id within the window", "concurrent appends of one dedupe id"]
            case .ignoresLeases: ["is not claimed again while its lease holds", "N concurrent claimers"]
            case .swallowsLeaseLost: ["a commit under a stale lease throws", "a run ends once"]
            case .endsTwice: ["a run ends once"]
            case .ignoresAppendedIDs: ["records the ids of the events appended"]
            case .keepsEndedWaits: ["ends its waits drops them"]
            case .dropsStartedRun: ["a checkpoint that starts a run"]
            }
        }
    }

    let base: SQLiteStore
    let flaw: Flaw

    func append(_ batch: EventBatch) async throws -> [EventAppendOutcome] {
        guard flaw == .noDedupe else { return try await base.append(batch) }
        return try await base.append(EventBatch(
            environment: batch.environment, events: batch.events, receivedAt: batch.receivedAt, dedupeWindow: 0, idSeed: batch.idSeed,
            afterCommit: batch.afterCommit))
    }

    func claim(_ request: ClaimRequest) async throws -> [ClaimedRun] {
        guard flaw == .ignoresLeases else { return try await base.claim(request) }
        return try await base.claim(ClaimRequest(
            environment: request.environment, appID: request.appID, functionIDs: request.functionIDs, owner: request.owner,
            now: request.now, leaseDuration: 0, limit: request.limit))
    }

    func commit(_ checkpoint: RunCheckpoint) async throws -> [EventAppendOutcome] {
        switch flaw {
        case .swallowsLeaseLost:
            do { return try await base.commit(checkpoint) } catch is LeaseLostError { return [] }
        case .endsTwice:
            switch checkpoint.transition {
            case .complete, .fail:
                // Records the ending as a retry: the run stays claimable.
                return try await base.commit(RunCheckpoint(
                    lease: checkpoint.lease, now: checkpoint.now, steps: checkpoint.steps, events: checkpoint.events, startsRun: checkpoint.startsRun,
                    transition: .retry(at: checkpoint.now, attempt: 1, error: ErrorRecord(name: "Flawed", message: "not ended"))))
            default:
                return try await base.commit(checkpoint)
            }
        case .ignoresAppendedIDs, .keepsEndedWaits:
            let flawed = checkpoint.steps.map { write in
                flaw == .ignoresAppendedIDs ? StepWrite(write.record, endsWaits: write.endsWaits) : StepWrite(write.record, output: write.output)
            }
            return try await base.commit(RunCheckpoint(
                lease: checkpoint.lease, now: checkpoint.now, steps: flawed, events: checkpoint.events, startsRun: checkpoint.startsRun,
                transition: checkpoint.transition))
        case .dropsStartedRun:
            return try await base.commit(RunCheckpoint(
                lease: checkpoint.lease, now: checkpoint.now, steps: checkpoint.steps, events: checkpoint.events, transition: checkpoint.transition))
        case .noDedupe, .ignoresLeases:
            return try await base.commit(checkpoint)
        }
    }

    func event(id: EventID, environment: String) async throws -> StoredEvent? { try await base.event(id: id, environment: environment) }
    func events(_ query: EventQuery) async throws -> EventPage { try await base.events(query) }
    func register(_ registration: FunctionRegistration) async throws { try await base.register(registration) }
    func functions(environment: String) async throws -> [FunctionRecord] { try await base.functions(environment: environment) }
    func renew(_ leases: [RunLease], until: Int64) async throws -> [RunLease] { try await base.renew(leases, until: until) }
    func nextDueTime(environment: String, appID: String, functionIDs: [String]) async throws -> Int64? {
        try await base.nextDueTime(environment: environment, appID: appID, functionIDs: functionIDs)
    }
    func run(id: RunID, environment: String) async throws -> RunRecord? { try await base.run(id: id, environment: environment) }
    func runs(_ query: RunQuery) async throws -> [RunRecord] { try await base.runs(query) }
    func runs(holdingConcurrencyKey identity: String, limit: Int) async throws -> [RunRecord] {
        try await base.runs(holdingConcurrencyKey: identity, limit: limit)
    }
    func steps(runID: RunID) async throws -> [StepRecord] { try await base.steps(runID: runID) }
    func attempts(runID: RunID) async throws -> [StepAttempt] { try await base.attempts(runID: runID) }
    func dueSchedules(environment: String, appID: String, functionIDs: [String], now: Int64) async throws -> [ScheduleRecord] {
        try await base.dueSchedules(environment: environment, appID: appID, functionIDs: functionIDs, now: now)
    }
    func fire(_ firings: [ScheduleFiring], environment: String, afterCommit: (@Sendable ([StoredEvent]) -> Void)?) async throws -> Int {
        try await base.fire(firings, environment: environment, afterCommit: afterCommit)
    }
    func cancel(runID: RunID, environment: String, now: Int64, reason: ErrorRecord, events: EventBatch?) async throws -> Bool {
        try await base.cancel(runID: runID, environment: environment, now: now, reason: reason, events: events)
    }
    func rerun(runID: RunID, environment: String, now: Int64) async throws -> RunRecord? {
        try await base.rerun(runID: runID, environment: environment, now: now)
    }
    func admissions(eventID: EventID, environment: String) async throws -> [AdmissionRecord] {
        try await base.admissions(eventID: eventID, environment: environment)
    }
    func environmentExists(_ environment: String) async throws -> Bool { try await base.environmentExists(environment) }
    func invoke(appID: String, functionID: String, batch: EventBatch) async throws -> RunRecord {
        try await base.invoke(appID: appID, functionID: functionID, batch: batch)
    }
    func environments() async throws -> [String] { try await base.environments() }
}

@Suite("The conformance suite catches flawed stores")
struct FlawedStoreTests {
    @Test("each rule a flaw breaks fails against it", arguments: FlawedStore.Flaw.allCases)
    func caught(flaw: FlawedStore.Flaw) async throws {
        for fragment in flaw.brokenRules {
            let rule = try #require(StoreConformance.cases.first { $0.description.contains(fragment) }, "no rule '\(fragment)'")
            await #expect(throws: StoreConformanceFailure.self, "\(rule) must fail when the store has the flaw '\(flaw)'") {
                try await rule.run { FlawedStore(base: try SQLiteStore(.init(path: nil)), flaw: flaw) }
            }
            // And the same rule passes on the store without the flaw.
            try await rule.run { try SQLiteStore(.init(path: nil)) }
        }
    }
}
