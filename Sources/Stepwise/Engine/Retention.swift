import Logging
public import ServiceLifecycle

/// How long an environment keeps what it is done with, and how gently it deletes the rest.
///
/// Runs that ended longer than ``maximumAge`` ago go with their steps, then events that no run
/// names any more, then dedupe keys whose window has passed. A run that has not ended is kept
/// however old, and so is its event; an event stays for the whole dedupe window whatever
/// ``maximumAge`` says, so dedupe holds as long as it promises.
public struct RetentionPolicy: Sendable, Hashable {
    /// How long ended runs and their events are kept.
    public var maximumAge: Duration
    /// The most rows of each kind one transaction deletes: small, so that a writer waits for
    /// one batch at most.
    public var batchSize: Int
    /// The pause between two batches, which lets the writer's queue drain.
    public var pause: Duration
    /// How often the background service looks for rows past retention.
    public var interval: Duration

    public init(maximumAge: Duration, batchSize: Int = 500, pause: Duration = .milliseconds(20), interval: Duration = .seconds(600)) {
        self.maximumAge = maximumAge
        self.batchSize = batchSize
        self.pause = pause
        self.interval = interval
    }
}

/// What a prune deleted, and the environment's sizes before and after.
public struct PruneReport: Sendable, Hashable, CustomStringConvertible {
    public let before: StoreSizes
    public let after: StoreSizes
    public let deleted: PruneResult
    /// How many transactions it took.
    public let batches: Int

    public var description: String {
        "deleted \(deleted.runs) runs (\(deleted.steps) steps), \(deleted.events) events, \(deleted.dedupeKeys) dedupe keys, "
            + "\(deleted.throttleKeys) throttle keys in \(batches) batches\nbefore: \(before)\nafter:  \(after)"
    }
}

/// Why a prune could not start.
public enum RetentionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The client's store does not conform to ``StoreRetention``.
    case storeCannotPrune(String)
    /// A policy with a batch size below 1 or a negative age.
    case invalidPolicy(String)

    public var description: String {
        switch self {
        case .storeCannotPrune(let store): return "the store \(store) cannot prune (it does not conform to StoreRetention)"
        case .invalidPolicy(let reason): return "retention policy: \(reason)"
        }
    }
}

extension StepwiseClient {
    /// Deletes what is past `policy` in the client's environment, a batch at a time, until
    /// nothing more is due, and reports the sizes before and after.
    ///
    /// - Throws: ``RetentionError`` for a store that cannot prune or a bad policy, or the
    ///   store's error (the batches before it stay deleted).
    public func prune(_ policy: RetentionPolicy) async throws -> PruneReport {
        guard let store = store as? any StoreRetention else { throw RetentionError.storeCannotPrune("\(type(of: store))") }
        guard policy.batchSize >= 1 else { throw RetentionError.invalidPolicy("batch size must be at least 1, not \(policy.batchSize)") }
        guard policy.maximumAge >= .zero else { throw RetentionError.invalidPolicy("maximum age must not be negative") }
        let environment = configuration.environment
        let before = try await store.sizes(environment: environment)
        var deleted = PruneResult()
        var batches = 0
        while true {
            try Task.checkCancellation()
            let now = configuration.clock.now()
            let dedupeBefore = now - configuration.dedupeWindow.milliseconds
            let request = PruneRequest(
                environment: environment, before: min(now - policy.maximumAge.milliseconds, dedupeBefore),
                dedupeBefore: dedupeBefore, limit: policy.batchSize)
            let result = try await store.prune(request)
            batches += 1
            deleted = deleted + result
            guard result.reachedLimit(policy.batchSize) else { break }
            if policy.pause > .zero { try await Task.sleep(for: policy.pause) }
        }
        let after = try await store.sizes(environment: environment)
        return PruneReport(before: before, after: after, deleted: deleted, batches: batches)
    }

    /// A background service that prunes the client's environment every
    /// ``RetentionPolicy/interval``: run it in the worker's `ServiceGroup`.
    public func retention(_ policy: RetentionPolicy) -> RetentionService {
        RetentionService(client: self, policy: policy)
    }
}

/// Prunes a client's environment now and then (``StepwiseClient/retention(_:)``), logging what
/// it deleted; a failed prune is logged and tried again at the next interval.
public struct RetentionService: Service {
    let client: StepwiseClient
    let policy: RetentionPolicy

    public func run() async throws {
        let logger = client.logger
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let report = try await client.prune(policy)
                    if report.deleted != PruneResult() {
                        logger.info("pruned", metadata: [
                            "runs": "\(report.deleted.runs)", "steps": "\(report.deleted.steps)", "events": "\(report.deleted.events)",
                            "dedupe_keys": "\(report.deleted.dedupeKeys)", "throttle_keys": "\(report.deleted.throttleKeys)", "events_left": "\(report.after.events)",
                            "runs_left": "\(report.after.runs)",
                        ])
                    }
                } catch let error as RetentionError {
                    throw error
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("prune failed; trying again at the next interval", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: policy.interval)
            }
        }
    }
}
