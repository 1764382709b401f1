public import Stepwise
import Synchronization

/// A store that wraps another and fails the calls a test chooses, with transient or permanent
/// ``StoreFailure``s: to see what the engine does when the database is busy, a connection
/// drops, or a commit fails for good, without a database that misbehaves on cue.
///
/// ```swift
/// let store = FaultInjectingStore(try .inMemory())
/// store.failNext(2, .commit)                                   // busy twice, then fine
/// store.fail(.claim, probability: 0.3, kind: .permanent)       // from the seeded generator
/// let stepwise = StepwiseClient(id: "test", store: store, configuration: .init(clock: clock))
/// ```
///
/// An injected failure is thrown *before* the wrapped store is called, so it stores nothing:
/// what ``StoreFailureKind/transient`` promises, and what lets a test count the attempts.
/// The wrapped store's change feed (``StoreChangeFeed``) is forwarded, unless
/// `hidesChangeFeed` says not to (to see what a worker does without one); a lifecycle
/// (``StoreLifecycle``) is not: run the wrapped store itself.
///
/// Written against the public API only, as a store in another module must be.
public final class FaultInjectingStore: Store, StoreChangeFeed {
    /// One requirement of ``Store``, to choose the calls that fail.
    public struct Requirement: Sendable, Hashable, CustomStringConvertible {
        /// The requirement's name, as in ``Store``.
        public let description: String

        public static let append = Requirement(description: "append")
        public static let event = Requirement(description: "event")
        public static let events = Requirement(description: "events")
        public static let register = Requirement(description: "register")
        public static let functions = Requirement(description: "functions")
        public static let claim = Requirement(description: "claim")
        public static let commit = Requirement(description: "commit")
        public static let renew = Requirement(description: "renew")
        public static let nextDueTime = Requirement(description: "nextDueTime")
        public static let run = Requirement(description: "run")
        public static let runs = Requirement(description: "runs")
        public static let steps = Requirement(description: "steps")
        public static let attempts = Requirement(description: "attempts")
        public static let dueSchedules = Requirement(description: "dueSchedules")
        public static let fire = Requirement(description: "fire")
        public static let cancel = Requirement(description: "cancel")
        public static let rerun = Requirement(description: "rerun")
        public static let environmentExists = Requirement(description: "environmentExists")
        public static let invoke = Requirement(description: "invoke")
        public static let environments = Requirement(description: "environments")
        public static let admissions = Requirement(description: "admissions")
    }

    private enum Schedule {
        /// The next `count` calls fail.
        case next(Int)
        /// Each call fails with this probability, drawn from the seeded generator.
        case probability(Double)
    }

    private struct Rule {
        var schedule: Schedule
        var kind: StoreFailureKind
    }

    private struct State {
        var rules: [Requirement: Rule] = [:]
        var calls: [Requirement: Int] = [:]
        var injected: [Requirement: Int] = [:]
        var random: SplitMix64
    }

    /// The store that does the work when no failure is injected.
    public let base: any Store
    /// Whether ``changes()`` ends at once instead of forwarding the wrapped store's feed.
    public let hidesChangeFeed: Bool
    private let state: Mutex<State>

    /// - Parameters:
    ///   - seed: seeds the generator that ``fail(_:probability:kind:)`` draws from, so that a
    ///     failing test fails the same way again.
    ///   - hidesChangeFeed: makes the store look as if it had no change feed, even when `base`
    ///     has one.
    public init(_ base: any Store, seed: UInt64 = 0, hidesChangeFeed: Bool = false) {
        self.base = base
        self.hidesChangeFeed = hidesChangeFeed
        self.state = Mutex(State(random: SplitMix64(seed: seed)))
    }

    /// The wrapped store's changes; a feed that ends at once (nothing to report, so the
    /// worker polls) when it has none or `hidesChangeFeed` is set.
    public func changes() -> AsyncStream<StoreChange> {
        if !hidesChangeFeed, let feed = base as? any StoreChangeFeed {
            return feed.changes()
        }
        return AsyncStream { $0.finish() }
    }

    /// Fails the next `count` calls of `requirement` with a failure of `kind`, then lets
    /// calls through again. Replaces any rule `requirement` had.
    public func failNext(_ count: Int = 1, _ requirement: Requirement, kind: StoreFailureKind = .transient) {
        state.withLock { $0.rules[requirement] = Rule(schedule: .next(max(0, count)), kind: kind) }
    }

    /// Fails each call of `requirement` with probability `probability` (0 to 1), until
    /// ``heal(_:)``. Replaces any rule `requirement` had.
    public func fail(_ requirement: Requirement, probability: Double, kind: StoreFailureKind = .transient) {
        state.withLock { $0.rules[requirement] = Rule(schedule: .probability(min(max(probability, 0), 1)), kind: kind) }
    }

    /// Stops failing calls of `requirement`, or of every requirement when `nil`.
    public func heal(_ requirement: Requirement? = nil) {
        state.withLock { state in
            if let requirement { state.rules[requirement] = nil } else { state.rules = [:] }
        }
    }

    /// How many calls of `requirement` were made, failed ones included.
    public func calls(_ requirement: Requirement) -> Int {
        state.withLock { $0.calls[requirement, default: 0] }
    }

    /// How many calls of `requirement` failed by injection.
    public func injectedFailures(_ requirement: Requirement) -> Int {
        state.withLock { $0.injected[requirement, default: 0] }
    }

    /// Counts the call, and throws when a rule says this one fails.
    private func enter(_ requirement: Requirement) throws(InjectedStoreFailure) {
        let failure = state.withLock { state -> InjectedStoreFailure? in
            state.calls[requirement, default: 0] += 1
            guard var rule = state.rules[requirement] else { return nil }
            let fails: Bool
            switch rule.schedule {
            case .next(let count):
                fails = count > 0
                rule.schedule = .next(max(0, count - 1))
                state.rules[requirement] = count > 1 ? rule : nil
            case .probability(let probability):
                fails = state.random.nextUnitDouble() < probability
            }
            guard fails else { return nil }
            state.injected[requirement, default: 0] += 1
            return InjectedStoreFailure(requirement: requirement, storeFailureKind: rule.kind, number: state.injected[requirement, default: 0])
        }
        if let failure { throw failure }
    }

    // MARK: Store

    public func append(_ batch: EventBatch) async throws -> [EventAppendOutcome] {
        try enter(.append)
        return try await base.append(batch)
    }

    public func event(id: EventID, environment: String) async throws -> StoredEvent? {
        try enter(.event)
        return try await base.event(id: id, environment: environment)
    }

    public func events(_ query: EventQuery) async throws -> EventPage {
        try enter(.events)
        return try await base.events(query)
    }

    public func register(_ registration: FunctionRegistration) async throws {
        try enter(.register)
        try await base.register(registration)
    }

    public func functions(environment: String) async throws -> [FunctionRecord] {
        try enter(.functions)
        return try await base.functions(environment: environment)
    }

    public func claim(_ request: ClaimRequest) async throws -> [ClaimedRun] {
        try enter(.claim)
        return try await base.claim(request)
    }

    public func commit(_ checkpoint: RunCheckpoint) async throws -> [EventAppendOutcome] {
        try enter(.commit)
        return try await base.commit(checkpoint)
    }

    public func renew(_ leases: [RunLease], until: Int64) async throws -> [RunLease] {
        try enter(.renew)
        return try await base.renew(leases, until: until)
    }

    public func nextDueTime(environment: String, appID: String, functionIDs: [String]) async throws -> Int64? {
        try enter(.nextDueTime)
        return try await base.nextDueTime(environment: environment, appID: appID, functionIDs: functionIDs)
    }

    public func run(id: RunID, environment: String) async throws -> RunRecord? {
        try enter(.run)
        return try await base.run(id: id, environment: environment)
    }

    public func runs(_ query: RunQuery) async throws -> [RunRecord] {
        try enter(.runs)
        return try await base.runs(query)
    }

    public func runs(holdingConcurrencyKey identity: String, limit: Int) async throws -> [RunRecord] {
        try enter(.runs)
        return try await base.runs(holdingConcurrencyKey: identity, limit: limit)
    }

    public func steps(runID: RunID) async throws -> [StepRecord] {
        try enter(.steps)
        return try await base.steps(runID: runID)
    }

    public func attempts(runID: RunID) async throws -> [StepAttempt] {
        try enter(.attempts)
        return try await base.attempts(runID: runID)
    }

    public func dueSchedules(environment: String, appID: String, functionIDs: [String], now: Int64) async throws -> [ScheduleRecord] {
        try enter(.dueSchedules)
        return try await base.dueSchedules(environment: environment, appID: appID, functionIDs: functionIDs, now: now)
    }

    public func fire(_ firings: [ScheduleFiring], environment: String, afterCommit: (@Sendable ([StoredEvent]) -> Void)?) async throws -> Int {
        try enter(.fire)
        return try await base.fire(firings, environment: environment, afterCommit: afterCommit)
    }

    public func cancel(runID: RunID, environment: String, now: Int64, reason: ErrorRecord, events: EventBatch?) async throws -> Bool {
        try enter(.cancel)
        return try await base.cancel(runID: runID, environment: environment, now: now, reason: reason, events: events)
    }

    public func rerun(runID: RunID, environment: String, now: Int64) async throws -> RunRecord? {
        try enter(.rerun)
        return try await base.rerun(runID: runID, environment: environment, now: now)
    }

    public func admissions(eventID: EventID, environment: String) async throws -> [AdmissionRecord] {
        try enter(.admissions)
        return try await base.admissions(eventID: eventID, environment: environment)
    }

    public func environmentExists(_ environment: String) async throws -> Bool {
        try enter(.environmentExists)
        return try await base.environmentExists(environment)
    }

    public func invoke(appID: String, functionID: String, batch: EventBatch) async throws -> RunRecord {
        try enter(.invoke)
        return try await base.invoke(appID: appID, functionID: functionID, batch: batch)
    }

    public func environments() async throws -> [String] {
        try enter(.environments)
        return try await base.environments()
    }
}

/// A failure a ``FaultInjectingStore`` was told to inject.
public struct InjectedStoreFailure: StoreFailure, Hashable, CustomStringConvertible {
    /// The call that failed.
    public let requirement: FaultInjectingStore.Requirement
    public let storeFailureKind: StoreFailureKind
    /// Which injected failure of `requirement` this is, from 1.
    public let number: Int

    public var description: String {
        "injected \(storeFailureKind) failure #\(number) of \(requirement)"
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny generator whose whole state is one
/// integer, so that a seed replays the same failures.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A double in [0, 1), from the top 53 bits.
    mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }
}
