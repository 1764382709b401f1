import Foundation
import OrderedCollections
public import Stepwise

/// The REST API's JSON for stored records, which the `stepwise` tool prints too. Keys are
/// snake_case, as in Inngest's REST API; times the server set are RFC 3339 strings, and an
/// event's `ts` stays milliseconds, as sent.
public enum RESTRepresentation {
    /// An event, in the shape of Inngest's REST API (`GET /v1/events`), so that scripts written
    /// for it read Stepwise's too: `internal_id` is the id `send` returned, `id` the sender's
    /// dedupe key (absent when it gave none, as Inngest omits an empty one), then `name`, `data`,
    /// `user` and `v` when sent, `ts` in milliseconds, and `received_at` as RFC 3339.
    public static func event(_ event: StoredEvent) -> JSON {
        var object: JSON.Object = ["internal_id": .string(event.id.description)]
        if let dedupeID = event.dedupeID { object["id"] = .string(dedupeID) }
        object["name"] = .string(event.name)
        object["data"] = event.data
        if let user = event.user { object["user"] = user }
        object["ts"] = .int(event.ts)
        if let v = event.v { object["v"] = .string(v) }
        object["received_at"] = time(event.receivedAt)
        return .object(object)
    }

    /// A run, with its steps when given (`GET /v1/runs/{id}`), each with its attempts when
    /// those are given too (``StepAttempt/timeline(steps:recorded:)``).
    public static func run(_ run: RunRecord, steps: [StepRecord]? = nil, attempts: [StepAttempt] = []) -> JSON {
        var object: JSON.Object = [
            "id": .string(run.id.description), "function_id": .string(run.functionID), "app_id": .string(run.appID),
            "event_id": .string(run.eventID.description), "status": .string(run.status.rawValue), "attempt": .int(Int64(run.attempt)),
            "output": run.output ?? .null, "error": run.error.map(error) ?? .null,
            "created_at": time(run.createdAt), "started_at": run.startedAt.map(time) ?? .null, "ended_at": run.endedAt.map(time) ?? .null,
            "rerun_of": run.rerunOf.map { .string($0.description) } ?? .null,
        ]
        if run.status == .cancelled, let error = run.error, error.name == ErrorRecord.runCancelledName {
            object["cancel_reason"] = .string(error.message)
        }
        if !run.flow.isEmpty { object["flow"] = flow(run.flow) }
        if let steps {
            var byKey: [String: [StepAttempt]] = [:]
            for attempt in attempts { byKey[attempt.key, default: []].append(attempt) }
            object["steps"] = .array(steps.map { Self.step($0, history: byKey[$0.key] ?? []) })
        }
        return .object(object)
    }

    /// A run's flow-control keys as people read them: each key's value, scope and limit (the
    /// identities the store compares stay inside).
    public static func flow(_ flow: RunFlow) -> JSON {
        var object: JSON.Object = [:]
        if !flow.concurrency.isEmpty {
            object["concurrency"] = .array(flow.concurrency.map { key in
                ["key": .string(key.value), "scope": .string(key.scope.rawValue), "limit": .int(Int64(key.limit))]
            })
        }
        if let throttle = flow.throttle {
            object["throttle"] = [
                "key": .string(throttle.value), "limit": .int(Int64(throttle.limit)), "period_ms": .int(throttle.periodMilliseconds),
                "burst": .int(Int64(throttle.burst)),
            ]
        }
        if let limit = flow.rateLimit {
            object[limit.isIdempotency ? "idempotency" : "rate_limit"] = [
                "key": .string(limit.key), "limit": .int(Int64(limit.limit)), "period_ms": .int(limit.periodMilliseconds),
            ]
        }
        if flow.prioritySeconds != 0 { object["priority_s"] = .int(flow.prioritySeconds) }
        if !flow.notes.isEmpty { object["notes"] = .array(flow.notes.map { .string($0) }) }
        return .object(object)
    }

    /// Why a run waits (``RunBlockage``): its `kind`, what holds it, until when, and the
    /// reason in words.
    public static func blockage(_ blockage: RunBlockage) -> JSON {
        var object: JSON.Object
        switch blockage {
        case .concurrency(let key, let scope, let limit, let heldBy):
            object = [
                "kind": "concurrency", "key": .string(key), "scope": .string(scope.rawValue), "limit": .int(Int64(limit)),
                "held_by": .array(heldBy.map { .string($0.description) }),
            ]
        case .throttle(let key, let until):
            object = ["kind": "throttle", "key": .string(key), "until": time(until.millisecondsSinceEpoch)]
        case .suspended(let status, let until):
            object = ["kind": .string(status.rawValue), "until": until.map { time($0.millisecondsSinceEpoch) } ?? .null]
        case .debounce(let key, let until):
            object = ["kind": "debounce", "key": .string(key), "until": time(until.millisecondsSinceEpoch)]
        case .batch(let key, let events, let maxSize, let until):
            object = [
                "kind": "batch", "key": .string(key), "events": .int(Int64(events)), "max_size": .int(Int64(maxSize)),
                "until": time(until.millisecondsSinceEpoch),
            ]
        case .scheduled(let until):
            object = ["kind": "scheduled", "until": time(until.millisecondsSinceEpoch)]
        }
        object["reason"] = .string(blockage.description)
        return .object(object)
    }

    /// Why an event started no run of a function it matched.
    public static func admission(_ record: AdmissionRecord) -> JSON {
        [
            "app_id": .string(record.appID), "function_id": .string(record.functionID), "reason": .string(record.reason.rawValue),
            "detail": .string(record.detail), "decided_at": time(record.decidedAt),
        ]
    }

    /// A step: its id, key, kind, status, attempts, output or error, start and end; a
    /// sleep's, wait's or invoke's `until` as a time; a wait's output as the event it
    /// received, and an invoke's as the invoked function's output (or its error), with the
    /// invoked run's id.
    ///
    /// - Parameter history: the step's attempts, each with its status, error and times, as
    ///   `history`: what a run's timeline draws, one bar an attempt.
    public static func step(_ step: StepRecord, history: [StepAttempt] = []) -> JSON {
        // Attempts made: the failed ones, and the one that completed it.
        let attempts = step.failedAttempts + (step.status == .completed ? 1 : 0)
        var output = step.output ?? .null
        var stepError = step.error
        var invokedRun: RunID?
        switch step.kind {
        case .sleep:
            output = .null
        case .waitForEvent:
            output = step.receivedEvent.map(event) ?? .null
        case .invoke:
            output = .null
            switch step.invocation {
            case .finished(let runID, let result):
                (output, invokedRun) = (result, runID)
            case .failed(let runID, let failure):
                (stepError, invokedRun) = (failure, runID)
            case .cancelled(let runID):
                stepError = ErrorRecord(name: "Stepwise.InvokeCancelled", message: "the invoked run was cancelled")
                invokedRun = runID
            case .timedOut:
                stepError = ErrorRecord(name: "Stepwise.InvokeTimeout", message: "the invoked run did not finish in time")
            case nil:
                break
            }
        case .run, .sendEvent:
            break
        }
        var object: JSON.Object = [
            "id": .string(step.stepID), "key": .string(step.key), "kind": .string(step.kind.rawValue), "status": .string(step.status.rawValue),
            "attempts": .int(Int64(attempts)), "output": output, "error": stepError.map(error) ?? .null,
            "started_at": time(step.startedAt), "ended_at": time(step.endedAt),
        ]
        if let until = step.until { object["until"] = time(until) }
        if let invokedRun { object["invoked_run_id"] = .string(invokedRun.description) }
        if !history.isEmpty {
            object["history"] = .array(history.map { attempt in
                [
                    "attempt": .int(Int64(attempt.number)), "status": .string(attempt.status.rawValue),
                    "error": attempt.error.map(error) ?? .null, "started_at": time(attempt.startedAt), "ended_at": time(attempt.endedAt),
                ]
            })
        }
        return .object(object)
    }

    /// A registered function: its app, id, triggers, schedules (with their next tick) and
    /// when it was registered.
    public static func function(_ function: FunctionRecord) -> JSON {
        var object: JSON.Object = [
            "app_id": .string(function.appID), "id": .string(function.id),
            "triggers": .array(function.triggers.map { .string($0.description) }),
            "schedules": .array(function.schedules.map { schedule in
                ["cron": .string(schedule.expression), "time_zone": .string(schedule.timeZone), "next_at": schedule.nextAt.map(time) ?? .null]
            }),
        ]
        if !function.cancelOn.isEmpty {
            object["cancel_on"] = .array(function.cancelOn.map { .string($0.eventName) })
        }
        object["registered_at"] = time(function.registeredAt)
        return .object(object)
    }

    /// An error, by its type's name and message.
    public static func error(_ error: ErrorRecord) -> JSON {
        ["name": .string(error.name), "message": .string(error.message)]
    }

    private static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let wholeSecondsFormat = Date.ISO8601FormatStyle()

    /// A time in milliseconds since the epoch, as RFC 3339 with milliseconds.
    public static func time(_ milliseconds: Int64) -> JSON {
        // Whole seconds through the formatter, milliseconds by hand: a Double of seconds
        // would print .623 as .622 when it lands just below.
        let (seconds, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let (wholeSeconds, fraction) = remainder < 0 ? (seconds - 1, remainder + 1000) : (seconds, remainder)
        var text = wholeSecondsFormat.format(Date(timeIntervalSince1970: Double(wholeSeconds)))
        guard text.hasSuffix("Z") else { return .string(text) }
        text.removeLast()
        let digits = String(fraction)
        return .string(text + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z")
    }

    /// A time in a query: milliseconds since the epoch, or RFC 3339.
    public static func parseTime(_ text: String) -> Int64? {
        if let milliseconds = Int64(text) { return milliseconds }
        for format in [timeFormat, wholeSecondsFormat] {
            if let date = try? format.parse(text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        }
        return nil
    }
}
