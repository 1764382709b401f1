@_spi(StoreImplementation) import Stepwise

extension InMemoryStore {
    /// One requirement's changes to the tables, applied wholly or not at all.
    ///
    /// Every change is made in place and journaled with what undoes it, so that a requirement
    /// that throws halfway (a seeded batch refused at its third event, a checkpoint whose
    /// invoke event turned out a duplicate) rolls back by undoing in reverse, at the cost of
    /// what it changed rather than a copy of the whole store.
    struct Transaction {
        /// Read freely; written only through the journaled methods below.
        private(set) var tables: Tables
        let generator: ULIDGenerator
        /// The requirement's time, where it has one: runs let go of a key's line become due
        /// no earlier, behind those already due. Without it they are due at their own time.
        var now: Int64?
        private var undo: [(inout Tables) -> Void] = []

        /// A transaction on `tables`, which it takes over, leaving them empty: the one copy then
        /// changes in place, with nothing else holding its storage.
        init(taking tables: inout Tables, generator: ULIDGenerator) {
            self.tables = Tables()
            self.generator = generator
            swap(&self.tables, &tables)
        }

        /// Undoes every change, newest first, and hands the tables back as they were.
        consuming func rolledBack() -> Tables {
            for step in undo.reversed() {
                step(&tables)
            }
            return tables
        }

        /// The tables with every change applied.
        consuming func committed() -> Tables {
            tables
        }

        /// Sets (or, with `nil`, removes) one row of a table.
        mutating func set<Key: Hashable, Value>(_ table: WritableKeyPath<Tables, [Key: Value]>, _ key: Key, to value: Value?) {
            let old: Value?
            if let value {
                old = tables[keyPath: table].updateValue(value, forKey: key)
            } else {
                old = tables[keyPath: table].removeValue(forKey: key)
            }
            undo.append { tables in tables[keyPath: table][key] = old }
        }

        /// Adds `member` to the index entry `key`.
        mutating func insert<Key: Hashable, Member: Hashable>(
            _ member: Member, into index: WritableKeyPath<Tables, [Key: Set<Member>]>, at key: Key
        ) {
            guard tables[keyPath: index][key, default: []].insert(member).inserted else { return }
            undo.append { tables in Self.remove(member, from: &tables[keyPath: index], at: key) }
        }

        /// Removes `member` from the index entry `key`, and the entry once it is empty.
        mutating func remove<Key: Hashable, Member: Hashable>(
            _ member: Member, from index: WritableKeyPath<Tables, [Key: Set<Member>]>, at key: Key
        ) {
            guard Self.remove(member, from: &tables[keyPath: index], at: key) else { return }
            undo.append { tables in tables[keyPath: index][key, default: []].insert(member) }
        }

        @discardableResult
        private static func remove<Key: Hashable, Member: Hashable>(_ member: Member, from index: inout [Key: Set<Member>], at key: Key) -> Bool {
            guard index[key]?.remove(member) != nil else { return false }
            if index[key]?.isEmpty == true { index[key] = nil }
            return true
        }

        /// The next number in insertion order.
        mutating func nextSequence() -> Int {
            tables.sequence += 1
            return tables.sequence
        }

        // MARK: Rows with indexes

        /// Stores an event, counted in its environment.
        mutating func insertEvent(_ row: EventRow) {
            set(\.events, row.event.id, to: row)
            let environment = ExactText(row.event.environment)
            set(\.eventCounts, environment, to: (tables.eventCounts[environment] ?? 0) + 1)
        }

        /// Inserts or replaces a run, keeping the index of the runs not ended in step with its
        /// status.
        mutating func putRun(_ row: RunRow) {
            let old = tables.runs[row.id]
            let wasActive = old.map { !$0.status.isFinal } ?? false
            set(\.runs, row.id, to: row)
            let isActive = !row.status.isFinal
            if isActive && !wasActive {
                insert(row.id, into: \.activeRuns, at: row.app)
            } else if wasActive && !isActive {
                remove(row.id, from: \.activeRuns, at: row.app)
            }
            if old?.parkedOn != row.parkedOn {
                if let key = old?.parkedOn { remove(row.id, from: \.parkedByKey, at: ExactText(key)) }
                if let key = row.parkedOn { insert(row.id, into: \.parkedByKey, at: ExactText(key)) }
            }
            guard !row.flow.concurrency.isEmpty else { return }
            let wasDue = old.map { $0.status == .queued && $0.availableAt != nil } ?? false
            let isDue = row.status == .queued && row.availableAt != nil
            if wasDue != isDue {
                for key in row.flow.concurrency {
                    if isDue {
                        insert(row.id, into: \.dueByKey, at: ExactText(key.identity))
                    } else {
                        remove(row.id, from: \.dueByKey, at: ExactText(key.identity))
                    }
                }
            }
            let wasRunning = old?.status == .running
            let isRunning = row.status == .running
            if wasRunning != isRunning {
                for key in row.flow.concurrency {
                    if isRunning {
                        insert(row.id, into: \.runningByKey, at: ExactText(key.identity))
                    } else {
                        remove(row.id, from: \.runningByKey, at: ExactText(key.identity))
                    }
                }
            }
            // A slot or a turn given back (a claim lets its keys' lines move itself, and
            // counts what it let go).
            if (wasRunning && !isRunning) || (wasDue && !isDue && !isRunning) {
                for key in row.flow.concurrency { unpark(key) }
            }
        }

        /// Lets go of as many runs parked on `key` as it has room for (fewer running than its
        /// limit) and turn for (fewer queued due than its turn), the earliest first, each due
        /// at its own time or `now`, whichever is later.
        ///
        /// - Returns: how many it let go.
        @discardableResult
        mutating func unpark(_ key: RunFlow.Concurrency) -> Int {
            let identity = ExactText(key.identity)
            let room = min(
                key.limit - (tables.runningByKey[identity]?.count ?? 0), key.turn - (tables.dueByKey[identity]?.count ?? 0))
            guard room > 0, let parked = tables.parkedByKey[identity] else { return 0 }
            // One woken another way since (its wait's event came) or ended is not parked any more.
            let released = parked.compactMap { tables.runs[$0] }.filter { $0.availableAt == nil && !$0.status.isFinal && $0.status != .running }
                .sorted { $0.rank < $1.rank }.prefix(room)
            let now = now
            for run in released {
                updateRun(run.id) { row in
                    row.availableAt = max(row.parkedDue ?? now ?? 0, now ?? Int64.min)
                    row.parkedOn = nil
                    row.parkedDue = nil
                }
            }
            return released.count
        }

        /// The first of `flow`'s keys on which a new run must wait in line: one with runs
        /// parked already, which go first, or with its whole turn due.
        func keyWithoutTurn(of flow: RunFlow) -> RunFlow.Concurrency? {
            flow.concurrency.first { key in
                let identity = ExactText(key.identity)
                return !(tables.parkedByKey[identity]?.isEmpty ?? true) || (tables.dueByKey[identity]?.count ?? 0) >= key.turn
            }
        }

        /// The first of the run's concurrency keys with no room for it, if any.
        func fullKey(of run: RunRow) -> String? {
            run.flow.concurrency.first { key in (tables.runningByKey[ExactText(key.identity)]?.count ?? 0) >= key.limit }?.identity
        }

        /// Keeps why an accepted event started no run of a function.
        mutating func recordAdmission(_ record: AdmissionRecord, environment: String) {
            let key = InMemoryStore.AdmissionKey(environment: ExactText(environment), eventID: record.eventID)
            set(\.admissions, key, to: (tables.admissions[key] ?? []) + [record])
        }

        /// Changes a run, if it exists; returns it as changed.
        @discardableResult
        mutating func updateRun(_ id: RunID, _ change: (inout RunRow) -> Void) -> RunRow? {
            guard var row = tables.runs[id] else { return nil }
            change(&row)
            putRun(row)
            return row
        }

        /// Records a step of `runID`: a new key is added after the run's other steps; a key
        /// recorded before keeps its place, id, kind and start, and takes the rest.
        /// Keeps an attempt; one written again under its number replaces the first.
        mutating func writeAttempt(_ attempt: StepAttempt, runID: RunID) {
            var attempts = tables.attempts[runID] ?? []
            attempts.removeAll { ExactText.same($0.key, attempt.key) && $0.number == attempt.number }
            attempts.append(attempt)
            set(\.attempts, runID, to: attempts)
        }

        mutating func writeStep(_ step: StepRecord, runID: RunID) {
            let existing = tables.steps[runID]?.firstIndex { ExactText.same($0.key, step.key) }
            if let index = existing, let old = tables.steps[runID]?[index] {
                tables.steps[runID]?[index] = StepRecord(
                    runID: runID, key: old.key, stepID: old.stepID, kind: old.kind, status: step.status, output: step.output,
                    error: step.error, failedAttempts: step.failedAttempts, startedAt: old.startedAt, endedAt: step.endedAt)
                undo.append { tables in tables.steps[runID]?[index] = old }
            } else {
                tables.steps[runID, default: []].append(StepRecord(
                    runID: runID, key: step.key, stepID: step.stepID, kind: step.kind, status: step.status, output: step.output,
                    error: step.error, failedAttempts: step.failedAttempts, startedAt: step.startedAt, endedAt: step.endedAt))
                undo.append { tables in
                    // Undone newest first: the step appended last is the last one.
                    tables.steps[runID]?.removeLast()
                    if tables.steps[runID]?.isEmpty == true { tables.steps[runID] = nil }
                }
            }
        }

        /// Completes a run's step that is still waiting, with the event it got.
        mutating func completeWaitingStep(runID: RunID, key: String, output: JSON, endedAt: Int64) {
            guard let index = tables.steps[runID]?.firstIndex(where: { ExactText.same($0.key, key) }),
                  let old = tables.steps[runID]?[index], old.status == .waiting
            else { return }
            tables.steps[runID]?[index] = StepRecord(
                runID: old.runID, key: old.key, stepID: old.stepID, kind: old.kind, status: .completed, output: output,
                error: old.error, failedAttempts: old.failedAttempts, startedAt: old.startedAt, endedAt: endedAt)
            undo.append { tables in tables.steps[runID]?[index] = old }
        }

        /// Inserts a wait of a run; a wait of the same step and event name already there keeps
        /// its row and takes the new expiry.
        mutating func insertWait(_ wait: RunWait, runID: RunID, environment: String) {
            let key = WaitKey(runID: runID, stepKey: ExactText(wait.stepKey), eventName: ExactText(wait.eventName))
            if var existing = tables.waits[key] {
                existing.expiresAt = wait.expiresAt
                set(\.waits, key, to: existing)
                return
            }
            let row = WaitRow(
                runID: runID, environment: environment, kind: wait.kind, stepKey: wait.stepKey, eventName: wait.eventName,
                matchPath: wait.matchPath, matchValue: wait.matchValue?.serialized, condition: wait.condition?.description,
                expiresAt: wait.expiresAt, sequence: nextSequence())
            set(\.waits, key, to: row)
            insert(key, into: \.waitsByName, at: WaitName(environment: ExactText(environment), eventName: key.eventName))
            insert(key, into: \.waitsByRun, at: runID)
        }

        /// Drops a run's waits: all of them, or those of one step.
        mutating func removeWaits(runID: RunID, stepKey: String? = nil) {
            guard let keys = tables.waitsByRun[runID] else { return }
            for key in keys {
                if let stepKey, key.stepKey != ExactText(stepKey) { continue }
                guard let row = tables.waits[key] else { continue }
                set(\.waits, key, to: nil)
                remove(key, from: \.waitsByName, at: WaitName(environment: ExactText(row.environment), eventName: key.eventName))
                remove(key, from: \.waitsByRun, at: runID)
            }
        }
    }

    /// Runs `body` as one transaction on the tables: its changes stand when it returns, and
    /// are undone, all of them, when it throws.
    ///
    /// The tables are moved into the transaction rather than copied, so that changing them in
    /// place copies nothing; the actor runs no other requirement meanwhile, since `body` never
    /// suspends.
    func write<Result>(_ body: (inout Transaction) throws -> Result) throws -> Result {
        var transaction = Transaction(taking: &tables, generator: idGenerator)
        do {
            let result = try body(&transaction)
            tables = transaction.committed()
            return result
        } catch {
            tables = transaction.rolledBack()
            throw error
        }
    }
}
