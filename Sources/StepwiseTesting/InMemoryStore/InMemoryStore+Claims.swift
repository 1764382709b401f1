@_spi(StoreImplementation) public import Stepwise

/// Claims and leases: which runs are due, who holds them, and for how long.
extension InMemoryStore {
    /// Claims the earliest due runs of these functions (queued, sleeping or waiting with their
    /// time come, or running with a lease run out), each under a lease whose token is one
    /// higher than any before; ties go to the run inserted first.
    public func claim(_ request: ClaimRequest) async throws -> [ClaimedRun] {
        guard request.limit > 0, !request.functionIDs.isEmpty else { return [] }
        return try write { transaction in
            transaction.now = request.now
            return transaction.claimDueRuns(request)
        }
    }

    /// A write that stores events (an append, a checkpoint) at `now`, then the claim, in one
    /// transaction; what was claimed is handed over before the events are published, as
    /// ``StoreClaimingWrites`` asks.
    func writeThenClaim(
        at now: Int64, _ request: ClaimRequest, afterCommit: (@Sendable ([StoredEvent]) -> Void)?,
        handOver: @Sendable (ClaimingWriteResult) -> Void,
        _ body: (inout Transaction, inout [StoredEvent]) throws -> [EventAppendOutcome]
    ) throws -> ClaimingWriteResult {
        var stored: [StoredEvent] = []
        let result = try write { transaction in
            transaction.now = now
            let outcomes = try body(&transaction, &stored)
            transaction.now = request.now
            return ClaimingWriteResult(outcomes: outcomes, claimed: transaction.claimDueRuns(request))
        }
        handOver(result)
        Self.publish(stored, to: afterCommit)
        return result
    }

    /// Why accepted events started no run of a function, in the order decided.
    public func admissions(eventID: EventID, environment: String) async throws -> [AdmissionRecord] {
        tables.admissions[AdmissionKey(environment: ExactText(environment), eventID: eventID)] ?? []
    }

    /// Extends each lease still held; a lease is lost only when another claim moved its token
    /// on, not when its holder set the run aside or ended it since the leases were listed.
    public func renew(_ leases: [RunLease], until: Int64) async throws -> [RunLease] {
        guard !leases.isEmpty else { return [] }
        return try write { transaction in
            leases.filter { lease in
                let run = transaction.tables.runs[lease.runID]
                if let run, run.leaseToken == lease.token, run.status == .running {
                    transaction.updateRun(lease.runID) { $0.availableAt = until }
                    return false
                }
                return run?.leaseToken != lease.token
            }
        }
    }

    /// The earliest time a run of these functions that has not ended is or becomes due (a
    /// running one's when its lease runs out), or a schedule of theirs ticks.
    public func nextDueTime(environment: String, appID: String, functionIDs: [String]) async throws -> Int64? {
        guard !functionIDs.isEmpty else { return nil }
        let app = AppKey(environment, appID)
        let functions = Set(functionIDs.map(ExactText.init))
        let runs = (tables.activeRuns[app] ?? []).compactMap { tables.runs[$0] }
            .filter { functions.contains(ExactText($0.functionID)) }.compactMap(\.availableAt).min()
        let ticks = functionRows(app, functionIDs).flatMap(\.schedules).map(\.nextAt).min()
        return [runs, ticks].compactMap { $0 }.min()
    }
}

extension InMemoryStore.Transaction {
    /// Claims up to `request.limit` due runs inside this transaction, as ``InMemoryStore/claim(_:)``
    /// answers them: the body that a claim alone and a commit that claims share.
    mutating func claimDueRuns(_ request: ClaimRequest) -> [ClaimedRun] {
        guard request.limit > 0, !request.functionIDs.isEmpty else { return [] }
        let functions = Set(request.functionIDs.map(ExactText.init))
        let app = InMemoryStore.AppKey(request.environment, request.appID)
        var claimed: [ClaimedRun] = []
        // Runs parked on a full key leave the due set, and runs let go in turn join it: each
        // round looks again, as SQLite's pages do, as many times as SQLite's claim at most.
        for _ in 0..<64 {
            let due = (tables.activeRuns[app] ?? []).compactMap { tables.runs[$0] }.filter { run in
                // A parked run has no due time, as in SQLite, where it leaves the due index.
                guard let availableAt = run.availableAt else { return false }
                return availableAt <= request.now && functions.contains(ExactText(run.functionID))
            }.sorted { ($0.availableAt ?? Int64.max, $0.sequence) < ($1.availableAt ?? Int64.max, $1.sequence) }
            var parked = 0
            var turnsTaken: [String: RunFlow.Concurrency] = [:]
            for run in due.prefix(request.limit - claimed.count) {
                // A run that is not executing takes a slot of each of its concurrency keys;
                // one with no room is parked until a run holding the key leaves it.
                if run.status != RunStatus.running, let full = fullKey(of: run) {
                    updateRun(run.id) { row in
                        row.parkedOn = full
                        row.parkedDue = row.availableAt
                        row.availableAt = nil
                    }
                    parked += 1
                    continue
                }
                if let claimedRun = claim(run, request) {
                    claimed.append(claimedRun)
                    if run.status == RunStatus.queued {
                        for key in run.flow.concurrency { turnsTaken[key.identity] = key }
                    }
                }
            }
            var letGo = 0
            for key in turnsTaken.values.sorted(by: { $0.identity < $1.identity }) {
                letGo += unpark(key)
            }
            guard parked + letGo > 0, claimed.count < request.limit else { break }
        }
        return claimed
    }

    /// Claims one due run: its new lease, its event and its steps.
    ///
    /// A run whose event is not there cannot be replayed: it fails here, alone, with
    /// `Stepwise.UnreadableRun`, and is not returned (DESIGN.md, invariant 7).
    mutating func claim(_ due: InMemoryStore.RunRow, _ request: ClaimRequest) -> ClaimedRun? {
        let claimed = updateRun(due.id) { run in
            run.status = .running
            run.parkedOn = nil
            run.parkedDue = nil
            run.leaseToken += 1
            run.availableAt = request.now + request.leaseDuration
            run.startedAt = run.startedAt ?? request.now
        }
        guard let claimed else { return nil }
        let events = claimed.eventIDs.compactMap { tables.events[$0]?.event }
        guard let event = events.first, events.count == claimed.eventIDs.count else {
            let missing = claimed.eventIDs.first { tables.events[$0] == nil } ?? claimed.eventID
            let reason = InMemoryStoreError.eventMissing(runID: claimed.id, eventID: missing).description
            updateRun(claimed.id) { run in
                run.status = .failed
                run.error = .unreadableRun(reason: reason)
                run.availableAt = nil
                run.endedAt = request.now
            }
            removeWaits(runID: claimed.id)
            return nil
        }
        let steps = tables.steps[claimed.id] ?? []
        return ClaimedRun(
            run: claimed.record, lease: RunLease(runID: claimed.id, token: claimed.leaseToken, owner: request.owner), event: event,
            events: events, steps: Dictionary(steps.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last }), claimedFrom: due.status,
            claimedAt: request.now, dueAt: due.availableAt)
    }
}
