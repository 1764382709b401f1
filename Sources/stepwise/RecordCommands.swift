import ArgumentParser
import Foundation
import Stepwise

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Send an event; prints its id.")

    @Argument(help: "The event's name, such as app/user.signup.")
    var name: String

    @Option(help: "The event's data: a JSON object.")
    var data: String = "{}"

    @Option(help: "The event's user: a JSON object.")
    var user: String?

    @Option(help: "A deduplication id: a later event with the same id within 24 hours is ignored.")
    var id: String?

    @Option(help: "When the event happened, in milliseconds since the Unix epoch (default: now).")
    var ts: Int64?

    @OptionGroup var target: TargetOptions

    func run() async throws {
        func object(_ text: String, _ option: String) throws -> JSON {
            do { return try JSON(parsing: text) } catch { throw CLIError("--\(option): \(error)") }
        }
        let event = Event(
            name: name, data: try object(data, "data"), user: try user.map { EventPayload(json: try object($0, "user")) }, id: id, ts: ts)
        do {
            let ids = try await target.withTarget { try await $0.send([event]) }
            print(ids.first?.description ?? "")
        } catch let error as EventValidationError {
            throw CLIError("the event is not valid: \(error)")
        }
    }
}

/// Options of the listing commands.
struct ListingOptions: ParsableArguments {
    @Option(help: "How many to list (1 to 1000).")
    var limit: Int = 20

    @Option(help: "Where to continue: the cursor the previous listing printed.")
    var cursor: String?

    @Flag(help: "Print the REST API's JSON instead of a table.")
    var json = false

    func validate() throws {
        guard (1...1000).contains(limit) else { throw ValidationError("--limit must be from 1 to 1000, not \(limit)") }
    }
}

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "List and show events.", subcommands: [List.self, Show.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List events, newest first.")

        @Option(help: "Only events of this name.")
        var name: String?

        @Option(help: "Only events received at or after this time (milliseconds or RFC 3339).")
        var since: String?

        @Option(help: "Only events received before this time (milliseconds or RFC 3339).")
        var until: String?

        @OptionGroup var listing: ListingOptions
        @OptionGroup var target: TargetOptions

        func run() async throws {
            let page = try await target.withTarget { target in
                try await target.events(name: name, since: since, until: until, limit: listing.limit, cursor: listing.cursor)
            }
            Output.listing(page, json: listing.json, columns: ["internal_id", "name", "received_at", "id"])
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an event, and the runs it triggered.")

        @Argument(help: "The event's id.")
        var id: String

        @OptionGroup var target: TargetOptions

        func run() async throws {
            let (event, runs, admissions) = try await target.withTarget { target in
                (try await target.event(id), try await target.runsOfEvent(id), try await target.admissions(ofEvent: id))
            }
            var data = event["data"]?.objectValue ?? [:]
            data["runs"] = runs["data"] ?? .array([])
            data["admissions"] = admissions["data"] ?? .array([])
            print(Output.pretty(.object(data)))
        }
    }
}

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List, show, cancel and rerun runs.", subcommands: [List.self, Show.self, Cancel.self, Rerun.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List runs, newest first.")

        @Option(help: "Only runs of this function.")
        var function: String?

        @Option(help: "Only runs in this status: \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
        var status: String?

        @OptionGroup var listing: ListingOptions
        @OptionGroup var target: TargetOptions

        func run() async throws {
            let page = try await target.withTarget { target in
                try await target.runs(function: function, status: status, limit: listing.limit, cursor: listing.cursor)
            }
            Output.listing(page, json: listing.json, columns: ["id", "function_id", "status", "created_at", "ended_at"])
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a run and its steps.")

        @Argument(help: "The run's id.")
        var id: String

        @OptionGroup var target: TargetOptions

        func run() async throws {
            let run = try await target.withTarget { try await $0.run(id) }
            print(Output.pretty(run["data"] ?? .null))
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a run that has not ended; it runs no further step.")

        @Argument(help: "The run's id.")
        var id: String

        @OptionGroup var target: TargetOptions

        func run() async throws {
            let run = try await target.withTarget { try await $0.cancel(id) }
            print("cancelled \(Output.printable(run["data"]?["id"]?.stringValue ?? id))")
        }
    }

    struct Rerun: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a new run of the same function on the same event; prints its id.")

        @Argument(help: "The id of the run to rerun.")
        var id: String

        @OptionGroup var target: TargetOptions

        func run() async throws {
            let run = try await target.withTarget { try await $0.rerun(id) }
            print(Output.printable(run["data"]?["id"]?.stringValue ?? ""))
        }
    }
}

struct FunctionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "functions", abstract: "List the functions apps registered, and invoke them.", subcommands: [List.self, Invoke.self])

    struct Invoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a run of a function with a payload, whatever its triggers; prints the run's id.",
            discussion: "The run's event is a stepwise/function.invoked with the payload as its data, stored with the run.")

        @Argument(help: "The function's id.")
        var id: String

        @Option(help: "The run's event data: a JSON object.")
        var data: String = "{}"

        @Option(help: "The function's app, when several apps register a function with this id.")
        var app: String?

        @OptionGroup var target: TargetOptions

        func run() async throws {
            let payload: JSON
            do { payload = try JSON(parsing: data) } catch { throw CLIError("--data: \(error)") }
            guard case .object = payload else { throw CLIError("--data: must be a JSON object, such as '{\"cartId\": \"ed12c8bde\"}'") }
            let run = try await target.withTarget { try await $0.invoke(function: id, app: app, data: payload) }
            print(Output.printable(run["data"]?["id"]?.stringValue ?? ""))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the functions each app's worker registered, with their triggers and schedules.")

        @Flag(help: "Print the REST API's JSON instead of a table.")
        var json = false

        @OptionGroup var target: TargetOptions

        func run() async throws {
            let functions = try await target.withTarget { try await $0.functions() }
            // One row a function; its triggers and schedules, joined, in one column.
            let rows = (functions["data"]?.arrayValue ?? []).map { function -> JSON in
                let triggers = (function["triggers"]?.arrayValue ?? []).compactMap(\.stringValue)
                let schedules = (function["schedules"]?.arrayValue ?? []).map { schedule in
                    "cron(\(schedule["cron"]?.stringValue ?? "")\(schedule["time_zone"]?.stringValue.map { $0 == "UTC" ? "" : ", \($0)" } ?? ""))"
                }
                return [
                    "app_id": function["app_id"] ?? .null, "id": function["id"] ?? .null,
                    "triggers": .string((triggers + schedules).joined(separator: ", ")),
                    "registered_at": function["registered_at"] ?? .null,
                ]
            }
            Output.listing(json ? functions : ["data": .array(rows)], json: json, columns: ["app_id", "id", "triggers", "registered_at"])
        }
    }
}
