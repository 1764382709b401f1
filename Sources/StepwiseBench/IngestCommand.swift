import ArgumentParser
import Foundation
import Stepwise
import StepwiseEncryption

/// `stepwise-bench ingest`: events per second through `send`, against raw SQLite inserts of
/// the same rows at the same durability.
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Events per second through send: single, batch100, batch1000, concurrent8."
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "Events per single-event round (single and concurrent8).")
    var singles = 1500

    @Option(help: "Events per batch round (batch100 and batch1000).")
    var batched = 20_000

    @Flag(help: "Measure encryption_overhead alone: batch1000 with user encrypted (AES-GCM) against the same events with user in plain text, alternating rounds.")
    var encryption = false

    /// The `user` of the encryption workload: what a storefront's event carries about its buyer.
    static let user: JSON = ["id": "u-645ea8289ad09eac", "email": "alice@example.com", "name": "Alice Example", "locale": "en-GB"]

    static let payload: JSON = [
        "cartId": "ed12c8bde",
        "itemIds": ["9f08sdh84", "sdf098487", "0fnun498n"],
        "account": ["id": 123, "email": "test@example.com"],
    ]

    func run() async throws {
        let workspace = try Workspace(directory: options.directory)
        let reporter = Reporter(json: options.json)
        let postgres = options.store == .postgres ? try BenchPostgres(url: options.postgresURL) : nil
        defer { postgres?.stop() }
        reporter.header(
            "ingest\(postgres == nil ? "" : " on PostgreSQL") (durability \(options.durability.rawValue), median of \(options.rounds) rounds)")

        if encryption {
            try await encryptionOverhead(workspace: workspace, reporter: reporter, postgres: postgres)
            return
        }
        let workloads: [(metric: String, events: Int, batchSize: Int, senders: Int)] = [
            ("single", singles, 1, 1),
            ("batch100", batched, 100, 1),
            ("batch1000", batched, 1000, 1),
            ("concurrent8", singles, 1, 8),
        ]
        for workload in workloads {
            var stepwiseRates: [Double] = []
            var baselineRates: [Double] = []
            for _ in 0..<options.rounds {
                // The baseline commits one row a transaction for single and concurrent8 alike:
                // what a plain SQLite app pays per durable event.
                if let postgres {
                    baselineRates.append(try await postgres.rawInsertRate(
                        events: workload.events, perTransaction: workload.batchSize, connections: workload.senders,
                        data: Self.payload.serialized, durability: options.durability))
                    stepwiseRates.append(try await postgres.withStore(durability: options.durability) { store in
                        try await stepwiseRate(events: workload.events, batchSize: workload.batchSize, senders: workload.senders, store: store)
                    })
                    continue
                }
                baselineRates.append(try await baselineRate(events: workload.events, perTransaction: workload.batchSize, workspace: workspace))
                stepwiseRates.append(try await stepwiseRate(
                    events: workload.events, batchSize: workload.batchSize, senders: workload.senders,
                    store: try SQLiteStore(.init(path: workspace.freshPath(), durability: durability))))
            }
            reporter.report(Measurement(
                workload: "ingest", metric: workload.metric, value: median(stepwiseRates), unit: "events/s",
                baseline: median(baselineRates)))
        }
    }

    private var durability: SQLiteStore.Durability { options.durability == .full ? .full : .normal }

    /// batch1000 with `user` encrypted (value) and in plain text (baseline), alternating A and B
    /// within each round, each on a fresh store, so that both see the same machine.
    private func encryptionOverhead(workspace: Workspace, reporter: Reporter, postgres: BenchPostgres?) async throws {
        let cipher = try AESGCMCipher(keys: [try AESGCMCipher.Key.random(id: "bench")])
        var encrypted: [Double] = []
        var plain: [Double] = []
        var cpuEncrypted: [Double] = []
        var cpuPlain: [Double] = []
        for round in 0..<options.rounds {
            for encrypt in round % 2 == 0 ? [true, false] : [false, true] {
                let userEncryption: UserEncryption = encrypt ? .encrypted(with: cipher) : .plaintext
                let rate: Double
                let cpuStart = processCPUSeconds()
                if let postgres {
                    rate = try await postgres.withStore(durability: options.durability) { store in
                        try await stepwiseRate(events: batched, batchSize: 1000, senders: 1, store: store, user: Self.user, userEncryption: userEncryption)
                    }
                } else {
                    rate = try await stepwiseRate(
                        events: batched, batchSize: 1000, senders: 1,
                        store: try SQLiteStore(.init(path: workspace.freshPath(), durability: durability)), user: Self.user,
                        userEncryption: userEncryption)
                }
                // Per event, the store's opening and setup included (the same for both halves).
                let cpu = (processCPUSeconds() - cpuStart) / Double(batched)
                if encrypt {
                    encrypted.append(rate)
                    cpuEncrypted.append(cpu)
                } else {
                    plain.append(rate)
                    cpuPlain.append(cpu)
                }
            }
        }
        reporter.report(Measurement(
            workload: "ingest", metric: "encryption_overhead", value: median(encrypted), unit: "events/s", baseline: median(plain)))
        // Not a target: the process's CPU per event, which the machine's other work moves much
        // less than the rate.
        reporter.report(Measurement(
            workload: "ingest", metric: "encryption_cpu_per_event", value: median(cpuEncrypted) * 1e6, unit: "us",
            baseline: median(cpuPlain) * 1e6, higherIsBetter: false))
    }

    private func baselineRate(events: Int, perTransaction: Int, workspace: Workspace) async throws -> Double {
        let raw = try RawSQLite(path: workspace.freshPath(), synchronous: durability.rawValue)
        let generator = ULIDGenerator()
        let data = Self.payload.serialized
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let rows = (0..<events).map { _ in
            BenchRow(id: generator.next(milliseconds: now).description, name: "storefront/cart.checkout.completed", data: data, ts: now)
        }
        let seconds = try await measure { try raw.insert(rows, perTransaction: perTransaction) }
        return Double(events) / seconds
    }

    private func stepwiseRate(
        events: Int, batchSize: Int, senders: Int, store: any Store, user: JSON? = nil, userEncryption: UserEncryption = .unconfigured
    ) async throws -> Double {
        let client = StepwiseClient(id: "bench", store: store, configuration: .init(userEncryption: userEncryption))
        let event = Event(name: "storefront/cart.checkout.completed", data: Self.payload, user: user.map(EventPayload.init(json:)))
        let perSender = events / senders
        let seconds = try await measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<senders {
                    group.addTask {
                        var sent = 0
                        while sent < perSender {
                            let count = min(batchSize, perSender - sent)
                            if count == 1 {
                                try await client.send(event)
                            } else {
                                try await client.send(Array(repeating: event, count: count))
                            }
                            sent += count
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        return Double(perSender * senders) / seconds
    }
}

/// Where a benchmark's database files go: each measurement gets a fresh file.
final class Workspace {
    let directory: URL
    private let removeWhenDone: Bool
    private var counter = 0

    init(directory: String?) throws {
        if let directory {
            self.directory = URL(fileURLWithPath: directory)
            removeWhenDone = false
        } else {
            self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("stepwise-bench-\(UUID().uuidString)")
            removeWhenDone = true
        }
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    func freshPath() -> String {
        counter += 1
        return directory.appendingPathComponent("bench-\(counter).db").path
    }

    deinit {
        if removeWhenDone { try? FileManager.default.removeItem(at: directory) }
    }
}
