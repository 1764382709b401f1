#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

// The times of records as `Date`s: what the Swift API shows. The store, the REST API and the
// CLI keep milliseconds since the epoch (the `package` fields these read), so that stored
// rows and wire formats do not change.

extension StoredEvent {
    /// When the event happened: its `ts`, or the time it was received if it was sent without one.
    public var timestamp: Date { Date(milliseconds: ts) }
    /// When Stepwise accepted the event; event listings are ordered and bounded by it.
    public var receivedDate: Date { Date(milliseconds: receivedAt) }
}

extension RunRecord {
    /// When the run was created, as its event was accepted (or it was invoked, or rerun).
    public var creationDate: Date { Date(milliseconds: createdAt) }
    /// When a worker first claimed it; `nil` while it never ran.
    public var startDate: Date? { startedAt.map(Date.init(milliseconds:)) }
    /// When it ended; `nil` until it has.
    public var endDate: Date? { endedAt.map(Date.init(milliseconds:)) }
    /// When a queued run may next be claimed (a retry's backoff, a sleep's end), or when a
    /// running run's lease runs out; `nil` once it ended.
    public var availableDate: Date? { availableAt.map(Date.init(milliseconds:)) }
}

extension StepRecord {
    /// When the step's latest attempt started.
    public var startDate: Date { Date(milliseconds: startedAt) }
    /// When the step's latest attempt ended (or, for a wait, when it was last checkpointed).
    public var endDate: Date { Date(milliseconds: endedAt) }
    /// When a sleep, a wait or an invoke ends, or ended: a sleep's wake-up time; a wait's or
    /// an invoke's timeout while it is in progress; `nil` for other steps.
    public var untilDate: Date? { until.map(Date.init(milliseconds:)) }
}

extension FunctionRecord {
    /// When its app last registered it: an old date says no worker of that app started since.
    public var registrationDate: Date { Date(milliseconds: registeredAt) }
}

extension FunctionRecord.Schedule {
    /// When the schedule's next run starts; `nil` when it has no tick left.
    public var nextDate: Date? { nextAt.map(Date.init(milliseconds:)) }
}

extension Event {
    /// When the event happened, as a `Date`: the same field as ``ts`` (which the wire format
    /// names and keeps in milliseconds), so setting one sets the other; `nil` for the time it
    /// is received.
    public var timestamp: Date? {
        get { ts.map(Date.init(milliseconds:)) }
        set { ts = newValue?.millisecondsSinceEpoch }
    }
}

extension AdmissionRecord {
    /// When it was decided: when the event was accepted.
    public var decisionDate: Date { Date(milliseconds: decidedAt) }
}
