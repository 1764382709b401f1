import Logging

/// How the engine retries a store call that failed with a ``StoreFailureKind/transient``
/// error: a few attempts, each after a jittered, doubling delay, all within a small part of a
/// lease, so that a worker that retries still commits under the lease it holds.
///
/// Only transient failures are retried: the store promises that nothing of the call was
/// stored, so a retry cannot store anything twice. A permanent failure, an error the engine
/// cannot classify, a lost lease and cancellation end the call at once, as before.
///
/// The jitter keeps workers that failed together (one busy database for all) from coming back
/// together: each delay is drawn between half and all of its doubled base.
struct StoreRetry: Sendable {
    /// How many times the call is made at most, the first one included.
    var maxAttempts: Int
    /// The delay before the second attempt; it doubles for each attempt after.
    var baseDelay: Duration
    /// The longest delay before any one attempt.
    var maxDelay: Duration

    /// Four attempts within about a second and a half at worst: well inside the 30 s default
    /// lease, and long enough for another process's write transaction to end.
    static let standard = StoreRetry(maxAttempts: 4, baseDelay: .milliseconds(50), maxDelay: .seconds(1))

    /// The delay before attempt `attempt + 1`, after `attempt` failed ones (1 or more).
    func delay(afterAttempt attempt: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        let doubled = baseDelay * (1 << min(max(0, attempt - 1), 20))
        let capped = min(doubled, maxDelay)
        return capped * (0.5 + 0.5 * min(max(random, 0), 1))
    }

    /// Calls `operation` until it returns, throws something other than a transient store
    /// failure, or has been tried ``maxAttempts`` times; then throws the last error.
    ///
    /// - Parameter what: names the call in the log line of each retry.
    func run<Value>(
        _ what: String, logger: Logger, sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        _ operation: () async throws -> Value
    ) async throws -> Value {
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch let failure {
                guard attempt < maxAttempts, StoreFailureKind(of: failure)?.isTransient == true, !Task.isCancelled else { throw failure }
                let delay = delay(afterAttempt: attempt)
                logger.notice("store failed transiently; retrying", metadata: [
                    "call": "\(what)", "error": "\(failure)", "attempt": "\(attempt)", "delay_ms": "\(delay.milliseconds)",
                ])
                // Cancelled while waiting: the last failure is the answer.
                do { try await sleep(delay) } catch { throw failure }
                attempt += 1
            }
        }
    }
}
