import Testing
@testable import Stepwise

@Suite("SQLite row columns")
struct SQLiteColumnsTests {
    @Test("each column set names the schema's columns, in the order their positions read")
    func namesAndPositions() {
        #expect(SQLiteStore.runColumns
            == "id, environment, app_id, function_id, event_id, status, attempt, output, error, created_at, started_at, ended_at, available_at, lease_token, rerun_of, event_count, flow, parked_on")
        #expect(SQLiteStore.stepColumns == "run_id, key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at")
        #expect(SQLiteStore.eventColumns == "id, environment, name, data, user, dedupe_id, ts, v, received_at, trace_context")
        #expect(RunColumn.allCases.enumerated().allSatisfy { Int32($0.offset) == $0.element.rawValue }, "positions count up from 0")
        #expect(StepColumn.allCases.enumerated().allSatisfy { Int32($0.offset) == $0.element.rawValue })
        #expect(EventColumn.allCases.enumerated().allSatisfy { Int32($0.offset) == $0.element.rawValue })
    }
}
