/// How runs and steps are read from their rows and errors written to them.
extension SQLiteStore {
    static let runColumns =
        "id, environment, app_id, function_id, event_id, status, attempt, output, error, created_at, started_at, ended_at, available_at, lease_token, rerun_of"

    static let stepColumns = "run_id, key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at"

    static func errorValue(_ error: ErrorRecord?) throws -> SQLiteValue {
        guard let error else { return .null }
        return .text(JSON.object(["name": .string(error.name), "message": .string(error.message)]).serialized)
    }

    private static func errorRecord(_ text: String?) -> ErrorRecord? {
        guard let text, let json = try? JSON(parsing: text) else { return nil }
        return ErrorRecord(name: json["name"]?.stringValue ?? "", message: json["message"]?.stringValue ?? "")
    }

    static func runRecord(_ row: SQLiteStatement) throws -> RunRecord {
        guard let id = row.text(0).flatMap(ULID.init), let eventID = row.text(4).flatMap(ULID.init),
              let status = row.text(5).flatMap(RunStatus.init(rawValue:))
        else { throw SQLiteStoreError.corruptRow(table: "runs", reason: "an id, event id or status does not parse") }
        // An output that cannot be read is listed as missing, with an error that says why,
        // rather than making every listing that includes the run throw (invariant 7).
        var output: JSON?
        var error = errorRecord(row.text(8))
        if let text = row.text(7) {
            do {
                output = try JSON(parsing: text)
            } catch let parseError {
                error = ErrorRecord(name: "Stepwise.UnreadableOutput", message: "the output of run \(id) could not be read: \(parseError)")
            }
        }
        return RunRecord(
            id: id, environment: row.text(1) ?? "", appID: row.text(2) ?? "", functionID: row.text(3) ?? "", eventID: eventID,
            status: status, attempt: Int(row.integer(6)), output: output, error: error,
            createdAt: row.integer(9), startedAt: row.isNull(10) ? nil : row.integer(10), endedAt: row.isNull(11) ? nil : row.integer(11),
            availableAt: row.isNull(12) ? nil : row.integer(12), rerunOf: row.text(14).flatMap(ULID.init))
    }

    static func stepRecord(_ row: SQLiteStatement, strict: Bool) throws -> StepRecord {
        guard let runID = row.text(0).flatMap(ULID.init), let key = row.text(1), let stepID = row.text(2),
              let kind = row.text(3).flatMap(StepKind.init(rawValue:)), let status = row.text(4).flatMap(StepStatus.init(rawValue:))
        else { throw SQLiteStoreError.corruptRow(table: "steps", reason: "a key, kind or status does not parse") }
        var output: JSON?
        var error = errorRecord(row.text(6))
        if let text = row.text(5) {
            do {
                output = try JSON(parsing: text)
            } catch let parseError {
                let reason = "the output of step \(key) of run \(runID) could not be read: \(parseError)"
                if strict { throw SQLiteStoreError.corruptRow(table: "steps", reason: reason) }
                error = ErrorRecord(name: "Stepwise.UnreadableOutput", message: reason)
            }
        }
        return StepRecord(
            runID: runID, key: key, stepID: stepID, kind: kind, status: status, output: output, error: error,
            failedAttempts: Int(row.integer(7)), startedAt: row.integer(8), endedAt: row.integer(9))
    }
}
