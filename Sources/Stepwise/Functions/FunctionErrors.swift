/// Throw this from a step or a function to fail it at once, without retries: for errors that
/// no retry can mend (a declined card, a deleted account).
///
/// ```swift
/// throw NonRetriableError("card declined", cause: declined)
/// ```
public struct NonRetriableError: Error, Sendable, CustomStringConvertible {
    public let message: String
    /// What is recorded: the cause's type and description when there is one.
    public let record: ErrorRecord

    public init(_ message: String, cause: (any Error)? = nil) {
        self.message = message
        if let cause {
            let inner = ErrorRecord(cause)
            record = ErrorRecord(name: inner.name, message: "\(message): \(inner.message)")
        } else {
            record = ErrorRecord(name: "Stepwise.NonRetriableError", message: message)
        }
    }

    public var description: String { record.message }
}

/// Throw this from a step or a function to retry it after `delay` instead of the backoff,
/// as when an API answers "429, retry after 30 s". It still counts as an attempt.
public struct RetryAfterError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let delay: Duration
    public let record: ErrorRecord

    public init(_ message: String, delay: Duration) {
        self.message = message
        self.delay = delay
        record = ErrorRecord(name: "Stepwise.RetryAfterError", message: message)
    }

    public var description: String { "\(message) (retry after \(delay))" }
}

/// A step that failed for good (its retries ran out, or it threw `NonRetriableError`).
///
/// Thrown into the function by `step.run`, the first time and on every replay alike, so the
/// function sees the same error whether the step failed just now or in another process. A
/// function may catch it and go on; if it does not, the run fails.
public struct StepError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The step's id.
    public let stepID: String
    /// The error the step's last attempt threw.
    public let error: ErrorRecord

    public init(stepID: String, error: ErrorRecord) {
        self.stepID = stepID
        self.error = error
    }

    public var description: String { "step '\(stepID)' failed: \(error)" }
}

/// Why a function could not be defined.
public struct FunctionDefinitionError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
}
