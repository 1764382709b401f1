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

    /// A run's timeline: every attempt of every step, by step in the order `steps` lists them,
    /// then by number. The engine records an attempt apart only for a step that failed at
    /// least once; a step that succeeded at its first try is its own one attempt, read here
    /// from its record, so that the common step costs no second row.
    public static func timeline(steps: [StepRecord], recorded: [StepAttempt]) -> [StepAttempt] {
        var byKey: [String: [StepAttempt]] = [:]
        for attempt in recorded { byKey[attempt.key, default: []].append(attempt) }
        var timeline: [StepAttempt] = []
        for step in steps {
            let kept = (byKey[step.key] ?? []).sorted { $0.number < $1.number }
            if !kept.isEmpty {
                timeline += kept
            } else if step.status == .completed || step.status == .failed, step.kind == .run || step.kind == .sendEvent {
                timeline.append(StepAttempt(ending: step))
            }
        }
        return timeline
    }

    /// The attempt a step record ends: its number follows the failures before it.
    init(ending record: StepRecord) {
        let number = record.status == .completed ? record.failedAttempts + 1 : max(1, record.failedAttempts)
        self.init(key: record.key, number: number, status: record.status, error: record.error, startedAt: record.startedAt, endedAt: record.endedAt)
    }
}
