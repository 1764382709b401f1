import ArgumentParser
import Foundation
import Stepwise
import StepwiseEncryption

/// `stepwise prune`: deletes what is past retention in one environment, a small batch per
/// transaction, beside running workers.
struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete ended runs (with their steps), events no run needs, and expired dedupe keys older than an age.",
        discussion: """
            Runs not ended, and their events, are kept however old; events stay for the whole dedupe window (24 hours). \
            Prints the environment's sizes before and after.
            """)

    @Option(name: .customLong("older-than"), help: "How old ended runs and events must be: such as 30d, 12h, 90m.")
    var olderThan: String

    @Option(help: "The most rows of each kind one transaction deletes.")
    var batchSize: Int = 500

    @Option(help: "The database file (default: \(DatabaseFile.defaultPath), or $\(StoreLocation.postgresVariable) when set).")
    var db: String?

    @Option(help: "A PostgreSQL database, as postgres://user:password@host:port/database?schema=stepwise.")
    var postgres: String?

    @Option(name: .customLong("env"), help: "The environment; the default one if not given.")
    var environment: String?

    func validate() throws {
        try StoreLocation.refuseTwo([("--db", db), ("--postgres", postgres)])
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, not \(batchSize)") }
        _ = try AgeText.parse(olderThan)
    }

    func run() async throws {
        let age = try AgeText.parse(olderThan)
        let variables = ProcessInfo.processInfo.environment
        let location = try StoreLocation.chosen(db: db, postgres: postgres, variables: variables) ?? .file(DatabaseFile.defaultPath)
        let environment = self.environment ?? "default"
        let report = try await location.withStore(create: false, logger: StoreLocation.commandLogger) { store in
            let client = StepwiseClient(id: "stepwise-cli", store: store, configuration: .init(environment: environment))
            return try await client.prune(RetentionPolicy(maximumAge: age, batchSize: batchSize))
        }
        print(report.description)
    }
}

/// Ages as an operator types them: a whole number and a unit (`d`, `h`, `m`, `s`).
enum AgeText {
    static func parse(_ text: String) throws -> Duration {
        guard let unit = text.last, let count = Int64(text.dropLast()), count >= 0 else {
            throw ValidationError("'\(text)' is not an age such as 30d, 12h, 90m or 3600s")
        }
        let seconds: Int64
        switch unit {
        case "d": seconds = 86_400
        case "h": seconds = 3_600
        case "m": seconds = 60
        case "s": seconds = 1
        default: throw ValidationError("'\(text)': the unit must be d, h, m or s")
        }
        let (total, overflow) = count.multipliedReportingOverflow(by: seconds)
        guard !overflow else { throw ValidationError("'\(text)' is too long an age") }
        return .seconds(total)
    }
}

/// `stepwise keys`: the keys that encrypt events' `user` at rest.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Keys for events' user, encrypted at rest (\(EncryptionKeys.variable)).",
        subcommands: [Generate.self, Rotate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new random AES-256 key as an entry of \(EncryptionKeys.variable): put it first to encrypt with it.")

        @Option(help: "The key's id, stored beside every ciphertext it seals (default: today's date).")
        var id: String?

        func run() throws {
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyy-MM-dd"
            formatter.timeZone = TimeZone(identifier: "UTC")
            let key = try AESGCMCipher.Key.random(id: id ?? formatter.string(from: Date()))
            print("\(key.id):\(key.base64)")
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-encrypt stored events' user with the first key of \(EncryptionKeys.variable), a page per transaction, beside running workers.",
            discussion: """
                Put the new key first and keep the old ones listed; once this reports no event left under an old key \
                (and retention has deleted the system events and step outputs older than it), the old key can go.
                """)

        @Option(help: "Events per transaction.")
        var batchSize: Int = 200

        @Option(help: "The database file (default: \(DatabaseFile.defaultPath), or $\(StoreLocation.postgresVariable) when set).")
        var db: String?

        @Option(help: "A PostgreSQL database, as postgres://user:password@host:port/database?schema=stepwise.")
        var postgres: String?

        @Option(name: .customLong("env"), help: "The environment; the default one if not given.")
        var environment: String?

        func validate() throws {
            try StoreLocation.refuseTwo([("--db", db), ("--postgres", postgres)])
            guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, not \(batchSize)") }
        }

        func run() async throws {
            let variables = ProcessInfo.processInfo.environment
            guard let cipher = try EncryptionKeys.cipher(variables) else {
                throw CLIError("stepwise keys rotate needs \(EncryptionKeys.variable): the new key first, then the old ones")
            }
            let location = try StoreLocation.chosen(db: db, postgres: postgres, variables: variables) ?? .file(DatabaseFile.defaultPath)
            let environment = self.environment ?? "default"
            let batchSize = self.batchSize
            let report = try await location.withStore(create: false, logger: StoreLocation.commandLogger) { store in
                let client = StepwiseClient(
                    id: "stepwise-cli", store: store, configuration: .init(environment: environment, userEncryption: .encrypted(with: cipher)))
                return try await client.reencryptUsers(batchSize: batchSize)
            }
            print(report.description)
        }
    }
}
