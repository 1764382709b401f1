public import Stepwise
import Logging
import Tracing

/// The rules every ``Store`` keeps, as runnable cases: run them against your store, so that
/// the engine's guarantees (an event stored once, a run executed by one worker at a time, a
/// commit under a stale lease refused) hold on it as they hold on the stores Stepwise ships.
///
/// Each case gets a fresh store from your factory and throws ``StoreConformanceFailure``
/// when the store breaks its rule. With Swift Testing:
///
/// ```swift
/// @Test(arguments: StoreConformance.cases)
/// func conforms(_ rule: StoreConformance.Case) async throws {
///     try await rule.run { try MyStore(…) }
/// }
/// ```
///
/// The cases use only the public API, as a store in another module must; the concurrent ones
/// race many tasks on one store, since a promise about concurrent callers cannot be assumed
/// from a single writer.
public enum StoreConformance {
    /// Makes the fresh, empty store one case runs against.
    public typealias MakeStore = @Sendable () async throws -> any Store

    /// One rule of the store contract.
    public struct Case: Sendable, CustomStringConvertible {
        /// What the store must do, in a sentence.
        public let description: String
        let body: @Sendable (ConformanceContext) async throws -> Void

        init(_ description: String, _ body: @escaping @Sendable (ConformanceContext) async throws -> Void) {
            self.description = description
            self.body = body
        }

        /// Runs the case against a fresh store.
        /// - Throws: ``StoreConformanceFailure`` when the store breaks the rule; whatever the
        ///   store throws where the rule expects success.
        public func run(_ makeStore: MakeStore) async throws {
            try await body(ConformanceContext(store: try await makeStore()))
        }
    }

    /// Every rule.
    public static var cases: [Case] {
        eventCases + runCases + checkpointCases + waitCases + queryCases + flowControlCases
    }
}

/// A store broke a rule of the contract: what was expected, and where the case checked it.
public struct StoreConformanceFailure: Error, CustomStringConvertible {
    public let message: String
    public let file: String
    public let line: Int

    public var description: String { "\(file):\(line): \(message)" }
}

/// What a case works with: the store under test, a clock the case moves, and clients of
/// the engine on the store.
struct ConformanceContext: Sendable {
    let store: any Store
    let clock = ManualClock()

    /// A client of app `app` on the store, in `environment`, reading the case's clock.
    func client(
        app: String = "conformance-app", environment: String = "default", dedupeWindow: Duration = .seconds(86_400),
        tracer: (any Tracer)? = nil
    ) -> StepwiseClient {
        var logger = Logger(label: "stepwise.conformance")
        logger.logLevel = .critical
        return StepwiseClient(
            id: app, store: store,
            configuration: .init(
                environment: environment, dedupeWindow: dedupeWindow, clock: clock, userEncryption: .plaintext, tracer: tracer ?? NoOpTracer()),
            logger: logger)
    }

    /// Claims due runs of `functions` for `owner`, with a lease of `lease` milliseconds.
    func claim(_ functions: [String], owner: String, app: String = "conformance-app", lease: Int64 = 1000, limit: Int = 100)
        async throws -> [ClaimedRun]
    {
        try await store.claim(ClaimRequest(
            environment: "default", appID: app, functionIDs: functions, owner: owner, now: clock.now(), leaseDuration: lease, limit: limit))
    }

    /// Registers functions of `app`, each with event triggers.
    func register(_ functions: [(id: String, triggers: [String])], app: String = "conformance-app", environment: String = "default")
        async throws
    {
        try await store.register(FunctionRegistration(
            environment: environment, appID: app,
            functions: functions.map { function in
                FunctionRegistration.Function(id: function.id, triggers: function.triggers.map { TriggerRegistration(pattern: EventPattern($0)) })
            },
            isCompleteSet: false, now: clock.now()))
    }

    /// A completed `step.run` record for `run`.
    func step(_ key: String, of run: RunID, output: JSON) -> StepRecord {
        StepRecord(
            runID: run, key: key, stepID: key, kind: .run, status: .completed, output: output, error: nil, failedAttempts: 0,
            startedAt: clock.now(), endedAt: clock.now())
    }

    /// Every run of the environment, however many.
    func allRuns(environment: String = "default") async throws -> [RunRecord] {
        var runs: [RunRecord] = []
        var before: RunID?
        while true {
            let page = try await store.runs(RunQuery(environment: environment, limit: 1000, before: before))
            runs += page
            guard page.count == 1000, let last = page.last else { return runs }
            before = last.id
        }
    }

    /// Every event of the environment, newest first.
    func allEvents(environment: String = "default") async throws -> [StoredEvent] {
        var events: [StoredEvent] = []
        var cursor: EventCursor?
        repeat {
            let page = try await store.events(EventQuery(environment: environment, limit: 1000, cursor: cursor))
            events += page.events
            cursor = page.nextCursor
        } while cursor != nil
        return events
    }
}

/// Fails the case unless `condition` holds.
func require(
    _ condition: Bool, _ message: @autoclosure () -> String, file: String = #fileID, line: Int = #line
) throws(StoreConformanceFailure) {
    guard condition else { throw StoreConformanceFailure(message: message(), file: file, line: line) }
}

/// The value, or a failure of the case saying what was missing.
func unwrap<Value>(
    _ value: Value?, _ message: @autoclosure () -> String, file: String = #fileID, line: Int = #line
) throws(StoreConformanceFailure) -> Value {
    guard let value else { throw StoreConformanceFailure(message: message(), file: file, line: line) }
    return value
}

/// Fails the case unless `body` throws an error of type `E`.
func requireThrows<E: Error>(
    _ type: E.Type, _ message: @autoclosure () -> String, file: String = #fileID, line: Int = #line, _ body: () async throws -> Void
) async throws {
    do {
        try await body()
    } catch is E {
        return
    } catch {
        throw StoreConformanceFailure(message: "\(message()): threw \(error) instead of \(E.self)", file: file, line: line)
    }
    throw StoreConformanceFailure(message: "\(message()): did not throw \(E.self)", file: file, line: line)
}
