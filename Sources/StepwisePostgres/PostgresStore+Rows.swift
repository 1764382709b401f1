import PostgresNIO
import Stepwise

/// Reading rows: each column by its place in a list of columns kept beside its decoder, so
/// that a list and its reader cannot drift apart.
extension PostgresRandomAccessRow {
    func text(_ index: Int) throws -> String? {
        try self[index].decode(String?.self)
    }

    func integer(_ index: Int) throws -> Int64 {
        try self[index].decode(Int64?.self) ?? 0
    }

    func optionalInteger(_ index: Int) throws -> Int64? {
        try self[index].decode(Int64?.self)
    }
}

extension PostgresStore {
    static let eventColumns = "id, environment, name, data, \"user\", dedupe_id, ts, v, received_at, trace_context"

    /// Reads a row of ``eventColumns``. A row that does not parse was changed
    /// behind Stepwise's back: reported as such rather than trusted.
    static func storedEvent(_ row: PostgresRandomAccessRow) throws -> StoredEvent {
        guard let idText = try row.text(0), let id = EventID(idText) else {
            throw PostgresStoreError.corruptRow(table: "events", reason: "an id is not a ULID")
        }
        let data: JSON
        do {
            data = try JSON(parsing: try row.text(3) ?? "")
        } catch {
            throw PostgresStoreError.corruptRow(table: "events", reason: "the data of event \(idText) is not JSON: \(error)")
        }
        var user: JSON?
        if let userText = try row.text(4) {
            do {
                user = try JSON(parsing: userText)
            } catch {
                throw PostgresStoreError.corruptRow(table: "events", reason: "the user of event \(idText) is not JSON: \(error)")
            }
        }
        return StoredEvent(
            id: id, environment: try row.text(1) ?? "", name: try row.text(2) ?? "", data: data, user: user,
            dedupeID: try row.text(5), ts: try row.integer(6), v: try row.text(7),
            receivedAt: try row.integer(8), traceContext: try row.text(9).flatMap(TraceContext.init(serialized:)))
    }

    static let runColumns =
        "id, environment, app_id, function_id, event_id, status, attempt::bigint, output, error, created_at, started_at, ended_at, "
        + "available_at, rerun_of, event_count::bigint, lease_token, flow, parked_on"

    static func errorText(_ error: ErrorRecord?) -> String? {
        guard let error else { return nil }
        return JSON.object(["name": .string(error.name), "message": .string(error.message)]).serialized
    }

    static func errorRecord(_ text: String?) -> ErrorRecord? {
        guard let text, let json = try? JSON(parsing: text) else { return nil }
        return ErrorRecord(name: json["name"]?.stringValue ?? "", message: json["message"]?.stringValue ?? "")
    }

    /// Reads a row of ``runColumns``. An output that cannot be read is listed as missing, with
    /// an error that says why, rather than making every listing with the run throw.
    static func runRecord(_ row: PostgresRandomAccessRow) throws -> RunRecord {
        guard let id = try row.text(0).flatMap(RunID.init), let eventID = try row.text(4).flatMap(EventID.init),
              let status = try row.text(5).flatMap(RunStatus.init(rawValue:))
        else { throw PostgresStoreError.corruptRow(table: "runs", reason: "an id, event id or status does not parse") }
        var output: JSON?
        var error = errorRecord(try row.text(8))
        if let text = try row.text(7) {
            do {
                output = try JSON(parsing: text)
            } catch let parseError {
                error = ErrorRecord(name: "Stepwise.UnreadableOutput", message: "the output of run \(id) could not be read: \(parseError)")
            }
        }
        return RunRecord(
            id: id, environment: try row.text(1) ?? "", appID: try row.text(2) ?? "", functionID: try row.text(3) ?? "", eventID: eventID,
            status: status, attempt: Int(try row.integer(6)), output: output, error: error, createdAt: try row.integer(9),
            startedAt: try row.optionalInteger(10), endedAt: try row.optionalInteger(11), availableAt: try row.optionalInteger(12),
            rerunOf: try row.text(13).flatMap(RunID.init), eventCount: Int(try row.integer(14)),
            // Flow keys that cannot be read are left out: Stepwise wrote them, and the run
            // stays readable (invariant 7).
            flow: RunFlow(json: try row.text(16).flatMap { try? JSON(parsing: $0) }), parkedOn: try row.text(17))
    }

    static let stepColumns =
        "run_id, key, step_id, kind, status, output, error, failed_attempts::bigint, started_at, ended_at"

    /// Reads a row of ``stepColumns``; `strict` for a run about to be replayed, whose step
    /// outputs must parse, and not for a listing, which shows the step with an error instead.
    static func stepRecord(_ row: PostgresRandomAccessRow, strict: Bool) throws -> StepRecord {
        guard let runID = try row.text(0).flatMap(RunID.init), let key = try row.text(1),
              let stepID = try row.text(2), let kind = try row.text(3).flatMap(StepKind.init(rawValue:)),
              let status = try row.text(4).flatMap(StepStatus.init(rawValue:))
        else { throw PostgresStoreError.corruptRow(table: "steps", reason: "a key, kind or status does not parse") }
        var output: JSON?
        var error = errorRecord(try row.text(6))
        if let text = try row.text(5) {
            do {
                output = try JSON(parsing: text)
            } catch let parseError {
                let reason = "the output of step \(key) of run \(runID) could not be read: \(parseError)"
                if strict { throw PostgresStoreError.corruptRow(table: "steps", reason: reason) }
                error = ErrorRecord(name: "Stepwise.UnreadableOutput", message: reason)
            }
        }
        return StepRecord(
            runID: runID, key: key, stepID: stepID, kind: kind, status: status, output: output, error: error,
            failedAttempts: Int(try row.integer(7)), startedAt: try row.integer(8), endedAt: try row.integer(9))
    }

    static func settings(_ text: String?) -> FunctionSettings {
        guard let text, let json = try? JSON(parsing: text) else { return FunctionSettings() }
        return FunctionSettings(json: json)
    }
}
