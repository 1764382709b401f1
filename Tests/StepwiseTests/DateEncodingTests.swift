import Foundation
import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

struct Stamped: Codable, Equatable, Sendable {
    let at: Date
}

@Suite("Dates in step results and outputs")
struct DateEncodingTests {
    /// 2026-12-01T09:10:22.123Z.
    let moment = Date(timeIntervalSince1970: 1_796_116_222.123)

    @Test("a Date in a step result and an output is stored as ISO 8601 with milliseconds, and replays the same")
    func iso8601ByDefault() async throws {
        let harness = try Harness()
        let moment = self.moment
        let seen = Mutex<[Date]>([])
        try harness.client.createFunction(id: "stamp", trigger: .event("go"), options: .init(retries: fastRetries)) { event, step in
            let stamped = try await step.run("stamp") { Stamped(at: moment) }
            seen.withLock { $0.append(stamped.at) }
            if step.attempt == 0 { throw PaymentDeclined(code: "once, to replay") }
            return stamped
        }
        try await harness.client.send(Event(name: "go"))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "stamp")
        #expect(run.status == .completed)
        #expect(run.output == ["at": "2026-12-01T09:10:22.123Z"])
        let step = try #require(try await harness.client.steps(ofRun: run.id).first)
        #expect(step.output == ["at": "2026-12-01T09:10:22.123Z"])
        let dates = seen.withLock { $0 }
        #expect(dates.count == 2)
        #expect(dates.first == dates.last, "the first run and the replay saw the same Date")
        #expect(abs((dates.first ?? .distantPast).timeIntervalSince(moment)) < 0.001)
    }

    @Test("the encoding is configurable, and each strategy reads back what it writes", arguments: [
        (JSONDateEncoding.iso8601, JSON.string("2026-12-01T09:10:22.123Z")),
        (.millisecondsSince1970, .double(1_796_116_222_123)),
        (.secondsSince1970, .double(1_796_116_222.123)),
        (.deferredToDate, .double(1_796_116_222.123 - 978_307_200)),
    ])
    func configurable(dates: JSONDateEncoding, expected: JSON) async throws {
        let encoded = try JSON(encoding: Stamped(at: moment), dates: dates)
        let at = try #require(encoded["at"])
        if case .double(let expectedValue) = expected {
            #expect(abs((at.doubleValue ?? 0) - expectedValue) < 0.001, "\(dates): \(at)")
        } else {
            #expect(at == expected)
        }
        let decoded = try encoded.decode(as: Stamped.self, dates: dates)
        #expect(abs(decoded.at.timeIntervalSince1970 - moment.timeIntervalSince1970) < 0.001)

        let clock = ManualClock()
        let client = StepwiseClient(id: "app", store: try SQLiteStore(.init(path: nil)), configuration: .init(clock: clock, dateEncoding: dates))
        let worker = client.worker()
        let moment = self.moment
        try client.createFunction(id: "stamp", trigger: .event("go")) { event, step in
            try await step.run("stamp") { Stamped(at: moment) }
        }
        try await client.send(Event(name: "go"))
        try await worker.runUntilIdle(advancing: clock)
        let run = try #require(try await client.runs().first)
        #expect(run.status == .completed)
        let replayed = try #require(try run.output?.decode(as: Stamped.self, dates: dates))
        #expect(replayed.at == decoded.at)
    }

    @Test("ISO 8601 decoding accepts whole seconds, and numbers as written before it was the default")
    func decodingAcceptsOlderForms() throws {
        let whole = try (["at": "2026-12-01T09:10:22Z"] as JSON).decode(as: Stamped.self)
        #expect(whole.at.timeIntervalSince1970 == 1_796_116_222)
        let legacy = try (["at": .double(moment.timeIntervalSinceReferenceDate)] as JSON).decode(as: Stamped.self)
        #expect(abs(legacy.at.timeIntervalSince1970 - moment.timeIntervalSince1970) < 0.000_1)
        #expect(throws: JSONConversionError.self) { try (["at": "yesterday"] as JSON).decode(as: Stamped.self) }
    }
}
