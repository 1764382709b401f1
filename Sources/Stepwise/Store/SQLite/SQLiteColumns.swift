/// The columns a row is read by: each set is declared once, in order, and both the
/// `SELECT` list and each column's position come from that declaration, so a column added
/// in the middle cannot shift what another is read as (as `row.integer(13)` could).
///
/// A case's position is its raw value (cases count up from 0), read in O(1) on every row;
/// its SQL name is its Swift name in snake case (`appID` is `app_id`).
protocol SQLiteColumns: CaseIterable, RawRepresentable<Int32> {}

extension SQLiteColumns {
    /// The columns, in order, for a `SELECT` or `RETURNING` list; build it once.
    static var list: String { allCases.map(\.name).joined(separator: ", ") }

    /// The columns, in order, each named by `table`'s alias, for a join.
    static func list(of table: String) -> String { allCases.map { "\(table).\($0.name)" }.joined(separator: ", ") }

    /// The column's name in SQL.
    var name: String {
        var name = ""
        var previousWasUpper = false
        for character in String(describing: self) {
            if character.isUppercase {
                if !previousWasUpper { name.append("_") }
                name.append(contentsOf: character.lowercased())
            } else {
                name.append(character)
            }
            previousWasUpper = character.isUppercase
        }
        return name
    }
}

extension SQLiteStatement {
    func isNull(_ column: some SQLiteColumns) -> Bool { isNull(column.rawValue) }
    func integer(_ column: some SQLiteColumns) -> Int64 { integer(column.rawValue) }
    func text(_ column: some SQLiteColumns) -> String? { text(column.rawValue) }
    /// The column's integer, or `nil` when it is NULL.
    func optionalInteger(_ column: some SQLiteColumns) -> Int64? { isNull(column) ? nil : integer(column) }
}

/// The columns of `runs` a ``RunRecord`` is read from.
enum RunColumn: Int32, SQLiteColumns {
    case id, environment, appID, functionID, eventID, status, attempt, output, error
    case createdAt, startedAt, endedAt, availableAt, leaseToken, rerunOf, eventCount, flow, parkedOn
}

/// The columns of `steps` a ``StepRecord`` is read from.
enum StepColumn: Int32, SQLiteColumns {
    case runID, key, stepID, kind, status, output, error, failedAttempts, startedAt, endedAt
}

/// The columns of `events` a ``StoredEvent`` is read from.
enum EventColumn: Int32, SQLiteColumns {
    case id, environment, name, data, user, dedupeID, ts, v, receivedAt, traceContext
}
