/// How runs and steps are read from their rows and errors written to them.
extension SQLiteStore {
    static let runColumns = RunColumn.list

    static let stepColumns = StepColumn.list

    static func errorValue(_ error: ErrorRecord?) throws -> SQLiteValue {
        guard let error else { return .null }
        return .text(JSON.object(["name": .string(error.name), "message": .string(error.message)]).serialized)
    }

    static func errorRecord(_ text: String?) -> ErrorRecord? {
        guard let text, let json = try? JSON(parsing: text) else { return nil }
        return ErrorRecord(name: json["name"]?.stringValue ?? "", message: json["message"]?.stringValue ?? "")
    }

    static func runRecord(_ row: SQLiteStatement) throws -> RunRecord {
        guard let id = row.text(RunColumn.id).flatMap(RunID.init), let eventID = row.text(RunColumn.eventID).flatMap(EventID.init),
              let status = row.text(RunColumn.status).flatMap(RunStatus.init(rawValue:))
        else { throw SQLiteStoreError.corruptRow(table: "runs", reason: "an id, event id or status does not parse") }
        // An output that cannot be read is listed as missing, with an error that says why,
        // rather than making every listing that includes the run throw (invariant 7).
        var output: JSON?
        var error = errorRecord(row.text(RunColumn.error))
        if let text = row.text(RunColumn.output) {
            do {
                output = try JSON(parsing: text)
            } catch let parseError {
                error = ErrorRecord(name: "Stepwise.UnreadableOutput", message: "the output of run \(id) could not be read: \(parseError)")
            }
        }
        return RunRecord(
            id: id, environment: row.text(RunColumn.environment) ?? "", appID: row.text(RunColumn.appID) ?? "",
            functionID: row.text(RunColumn.functionID) ?? "", eventID: eventID, status: status,
            attempt: Int(row.integer(RunColumn.attempt)), output: output, error: error, createdAt: row.integer(RunColumn.createdAt),
            startedAt: row.optionalInteger(RunColumn.startedAt), endedAt: row.optionalInteger(RunColumn.endedAt),
            availableAt: row.optionalInteger(RunColumn.availableAt), rerunOf: row.text(RunColumn.rerunOf).flatMap(RunID.init),
            eventCount: Int(row.integer(RunColumn.eventCount)),
            // Flow keys that cannot be read are left out, as FunctionSettings leaves out
            // settings: Stepwise wrote them, and the run stays readable (invariant 7).
            flow: RunFlow(json: row.text(RunColumn.flow).flatMap { try? JSON(parsing: $0) }), parkedOn: row.text(RunColumn.parkedOn))
    }

    static func stepRecord(_ row: SQLiteStatement, strict: Bool) throws -> StepRecord {
        guard let runID = row.text(StepColumn.runID).flatMap(RunID.init), let key = row.text(StepColumn.key),
              let stepID = row.text(StepColumn.stepID), let kind = row.text(StepColumn.kind).flatMap(StepKind.init(rawValue:)),
              let status = row.text(StepColumn.status).flatMap(StepStatus.init(rawValue:))
        else { throw SQLiteStoreError.corruptRow(table: "steps", reason: "a key, kind or status does not parse") }
        var output: JSON?
        var error = errorRecord(row.text(StepColumn.error))
        if let text = row.text(StepColumn.output) {
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
            failedAttempts: Int(row.integer(StepColumn.failedAttempts)), startedAt: row.integer(StepColumn.startedAt),
            endedAt: row.integer(StepColumn.endedAt))
    }
}
