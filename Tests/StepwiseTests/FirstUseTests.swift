import Foundation
import Testing
@testable import Stepwise
import StepwiseTesting

/// What a new user meets first: opening a store where no folder is yet, and a test kit that
/// says what is wrong instead of spinning.
@Suite("First use")
struct FirstUseTests {
    @Test(".sqlite(path:) creates the folders its file goes in")
    func createsFolders() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("one/two/three/app.db")
        let client = StepwiseClient(id: "app", store: try .sqlite(path: path))
        let id = try await client.send(Event(name: "app/started"))
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try await client.event(id: id) != nil)
        // Opening again finds the same file.
        let again = StepwiseClient(id: "app", store: try .sqlite(path: path))
        #expect(try await again.event(id: id) != nil)
    }

    @Test("a file where a folder should be is a clear error")
    func fileInTheWay() throws {
        let directory = try TemporaryDirectory()
        try Data("not a folder".utf8).write(to: URL(fileURLWithPath: directory.path("blocker")))
        #expect {
            _ = try SQLiteStore.sqlite(path: directory.path("blocker/app.db"))
        } throws: { error in
            guard case SQLiteStoreError.cannotCreateFolder(let path, _)? = error as? SQLiteStoreError else { return false }
            return path.hasSuffix("blocker") && "\(error)".contains("could not create the folder")
        }
    }

    @Test("runUntilIdle refuses a clock the client does not read, and says so")
    func runUntilIdleWrongClock() async throws {
        let client = StepwiseClient(id: "app", store: try .inMemory(), configuration: .init(clock: ManualClock()))
        try client.createFunction(id: "f", trigger: .event("a")) { _, step in
            try await step.sleep("nap", for: .seconds(60))
        }
        try await client.send(Event(name: "a"))
        let error = await #expect(throws: RunUntilIdleError.self) {
            try await client.worker().runUntilIdle(advancing: ManualClock())
        }
        #expect(error?.clientClockIsAnother == true)
        #expect(error?.description.contains("configuration: .init(clock: clock)") == true)
        let wallClock = StepwiseClient(id: "app", store: try .inMemory())
        await #expect(throws: RunUntilIdleError.self) { try await wallClock.worker().runUntilIdle(advancing: ManualClock()) }
    }
}
