#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Why a run that has not ended is not executing now: the answer to "why isn't my run
/// running?", which a queue that only says "queued" leaves to guesswork.
public enum RunBlockage: Sendable, Hashable, CustomStringConvertible {
    /// Parked on a full concurrency key: it starts when one of the runs holding the key
    /// leaves it.
    case concurrency(key: String, scope: ConcurrencyScope, limit: Int, heldBy: [RunID])
    /// Its throttled start comes at `until`.
    case throttle(key: String, until: Date)
    /// Sleeping, or waiting for an event or an invoked run, until `until` at the latest.
    case suspended(RunStatus, until: Date?)
    /// A debounced run waiting for events to stop: it fires at `until` unless another event
    /// with its key moves it on.
    case debounce(key: String, until: Date)
    /// A batch gathering events: `events` of at most `maxSize`, flushed at `until` if not full
    /// before.
    case batch(key: String, events: Int, maxSize: Int, until: Date)
    /// Due later for another reason: an event `ts` in the future, a retry's backoff.
    case scheduled(until: Date)

    /// The reason in words, for listings and logs.
    public var description: String {
        switch self {
        case .concurrency(let key, let scope, let limit, let heldBy):
            let name = key.isEmpty ? "the function's concurrency limit" : "concurrency key '\(key)' (\(scope.rawValue))"
            return "parked on \(name): \(heldBy.count)/\(limit) held by \(heldBy.map(\.description).joined(separator: ", "))"
        case .throttle(let key, let until):
            return "throttled\(key.isEmpty ? "" : " on key '\(key)'") until \(until.formatted(.iso8601))"
        case .suspended(let status, let until):
            return "\(status.rawValue)" + (until.map { " until \($0.formatted(.iso8601))" } ?? "")
        case .debounce(let key, let until):
            return "debounced\(key.isEmpty ? "" : " on key '\(key)'"): fires at \(until.formatted(.iso8601)) unless another event comes"
        case .batch(let key, let events, let maxSize, let until):
            return "batch\(key.isEmpty ? "" : " '\(key)'") \(events) of \(maxSize): flushes at \(until.formatted(.iso8601)) if not full before"
        case .scheduled(let until):
            return "scheduled for \(until.formatted(.iso8601))"
        }
    }
}

extension StepwiseClient {
    /// Why `run` is not executing now; `nil` when it is executing, ended, or due now (a worker
    /// will claim it at its next turn).
    public func blockage(of run: RunRecord) async throws -> RunBlockage? {
        guard !run.status.isFinal, run.status != .running else { return nil }
        if let identity = run.parkedOn, let key = run.flow.concurrency.first(where: { $0.identity == identity }) {
            let holders = try await store.runs(holdingConcurrencyKey: identity, limit: max(1, min(key.limit, 100)))
            return .concurrency(key: key.value, scope: key.scope, limit: key.limit, heldBy: holders.map(\.id))
        }
        guard let availableAt = run.availableAt else { return nil }
        let until = Date(milliseconds: availableAt)
        switch run.status {
        case .sleeping, .waiting:
            return .suspended(run.status, until: availableAt == Int64.max ? nil : until)
        default:
            guard availableAt > configuration.clock.now() else { return nil }
            if run.startedAt == nil, let batch = run.flow.batch {
                return .batch(key: batch.key, events: run.eventCount, maxSize: batch.maxSize, until: until)
            }
            if run.startedAt == nil, let debounce = run.flow.debounce {
                return .debounce(key: debounce.key, until: until)
            }
            if let throttle = run.flow.throttle, run.startedAt == nil {
                return .throttle(key: throttle.value, until: until)
            }
            return .scheduled(until: until)
        }
    }
}
