/// One attempt of a step: when it ran and how it ended. A step's record keeps only its last
/// state; its attempts keep every try, for a run's timeline (a step that failed twice and
/// then succeeded shows three bars).
public struct StepAttempt: Sendable, Hashable {
    /// The step's key in its run.
    public let key: String
    /// 1 for the first attempt.
    public let number: Int
    /// `completed`, `errored` (it will be retried) or `failed` (for good).
    public let status: StepStatus
    /// Why it failed, when it did.
    public let error: ErrorRecord?
    public let startedAt: Int64
    public let endedAt: Int64

    public init(key: String, number: Int, status: StepStatus, error: ErrorRecord?, startedAt: Int64, endedAt: Int64) {
        self.key = key
        self.number = number
        self.status = status
        self.error = error
        self.startedAt = startedAt
        self.endedAt = endedAt
    }

    /// The attempt a step record ends: its number follows the failures before it.
    init(ending record: StepRecord) {
        let number = record.status == .completed ? record.failedAttempts + 1 : max(1, record.failedAttempts)
        self.init(key: record.key, number: number, status: record.status, error: record.error, startedAt: record.startedAt, endedAt: record.endedAt)
    }
}
