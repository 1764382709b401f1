/// How a function's steps, and the function itself, are retried.
///
/// Attempts are counted per step: with the default of 4 retries, each step gets 5 attempts,
/// and an error thrown outside any step gets the function 5 attempts of its own.
public struct RetryPolicy: Sendable, Hashable {
    /// How many times a failed step (or function) is tried again; 0 means no retries.
    public var retries: Int
    public var backoff: Backoff

    public init(retries: Int = 4, backoff: Backoff = .exponentialJitter()) {
        self.retries = max(0, retries)
        self.backoff = backoff
    }

    public static let `default` = RetryPolicy()

    /// How many attempts a step or the function gets in all.
    public var maxAttempts: Int { retries + 1 }

    /// What follows the `failures`-th failed attempt of a step or of the function (1 for the
    /// first), which threw `error`: the one rule for both, so that a step and a function
    /// never disagree on what is final.
    ///
    /// Final: a ``NonRetriableError``; a ``StepError`` (a step already failed for good, and
    /// retrying replays the same failure); the last attempt. Otherwise another attempt, after
    /// a ``RetryAfterError``'s delay or the backoff's.
    func decision(after error: any Error, failures: Int) -> RetryDecision {
        if error is NonRetriableError || error is StepError || failures >= maxAttempts { return .fail }
        let delay = (error as? RetryAfterError)?.delay.milliseconds ?? backoff.delay(afterFailures: failures)
        return .retry(afterMilliseconds: delay)
    }
}

/// What ``RetryPolicy/decision(after:failures:)`` decided.
enum RetryDecision: Sendable, Hashable {
    case retry(afterMilliseconds: Int64)
    case fail
}

/// How long to wait before the next attempt.
public struct Backoff: Sendable, Hashable {
    let base: Duration
    let maximum: Duration
    let jitter: Bool

    /// Doubling delays, `base`, `2 × base`, `4 × base`… up to `maximum`, each scaled by a
    /// random factor between 0.5 and 1 so that runs that failed together do not all retry in
    /// the same instant.
    public static func exponentialJitter(base: Duration = .seconds(1), maximum: Duration = .seconds(600)) -> Backoff {
        Backoff(base: base, maximum: maximum, jitter: true)
    }

    /// Doubling delays without the random factor: predictable, for tests and demos.
    public static func exponential(base: Duration = .seconds(1), maximum: Duration = .seconds(600)) -> Backoff {
        Backoff(base: base, maximum: maximum, jitter: false)
    }

    /// The same delay every time.
    public static func constant(_ delay: Duration) -> Backoff {
        Backoff(base: delay, maximum: delay, jitter: false)
    }

    /// The delay after the `failures`-th failure (1 for the first), in milliseconds.
    func delay(afterFailures failures: Int) -> Int64 {
        let baseMilliseconds = Double(base.milliseconds)
        let exponent = Double(max(0, min(failures - 1, 40)))
        var delay = min(baseMilliseconds * pow2(exponent), Double(maximum.milliseconds))
        if jitter {
            delay *= Double.random(in: 0.5...1.0)
        }
        return Int64(delay)
    }

    private func pow2(_ exponent: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(exponent) { result *= 2 }
        return result
    }
}
