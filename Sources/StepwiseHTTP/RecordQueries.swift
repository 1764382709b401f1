public import Stepwise

/// The REST API's operations on a client's events and runs, apart from HTTP: parameters as
/// the API takes them (text, as in a query string), answers as its JSON (`{"data": …}`, with
/// `"cursor"` for listings). The routes call them for a request's environment, and the
/// `stepwise` tool on a database file, so that both parse, check and answer alike.
///
/// Every error is an ``APIError`` whose message names the parameter at fault.
///
/// A listing is held to `limit` records and to ``maxPageBytes`` of their JSON, whichever comes
/// first, so that what one request costs does not grow with the records' size: a thousand
/// events of 256 KiB would otherwise be a quarter of a gigabyte of text, and several times
/// that as parsed values, for a single answer. Records are read from the store a few at a
/// time, and the page's cursor names the last record answered, so the next page starts
/// exactly where this one was cut.
public struct RecordQueries: Sendable {
    /// The most bytes of record JSON one listing answers with, unless its first record alone is
    /// larger (a page always holds at least one): 1 MiB, as much as a request may send.
    public static let defaultMaxPageBytes = 1 << 20

    /// The client whose environment is read and changed.
    public let client: StepwiseClient
    /// The most bytes of record JSON one listing answers with; see ``defaultMaxPageBytes``.
    public let maxPageBytes: Int

    /// The operations on `client`'s environment, with pages of at most `maxPageBytes` of JSON.
    public init(client: StepwiseClient, maxPageBytes: Int = RecordQueries.defaultMaxPageBytes) {
        self.client = client
        self.maxPageBytes = max(1, maxPageBytes)
    }

    /// Events newest first, by name and receive time (`since` inclusive, `until` exclusive:
    /// milliseconds or RFC 3339), `limit` (1 to 1000, 50 by default) at a time, and at most
    /// ``maxPageBytes`` of JSON.
    public func events(name: String?, since: String?, until: String?, limit: String?, cursor: String?) async throws -> JSON {
        var position: EventCursor?
        if let cursor {
            guard let parsed = EventCursor(rawValue: cursor) else { throw APIError(.badRequest, "cursor: not a cursor this API gave") }
            position = parsed
        }
        let sinceTime = try Self.time(since, "since"), untilTime = try Self.time(until, "until")
        var page = PageBuilder(limit: try Self.limit(limit), maxBytes: maxPageBytes)
        var next: EventCursor?
        reading: while true {
            let chunk: EventPage
            do {
                chunk = try await client.events(
                    named: name, sinceMilliseconds: sinceTime, untilMilliseconds: untilTime, limit: page.nextChunkSize, cursor: position)
            } catch let error as EventQueryError {
                throw APIError(.badRequest, error.description)
            }
            for (index, event) in chunk.events.enumerated() {
                guard page.add(RESTRepresentation.event(event)) else {
                    next = position
                    break reading
                }
                position = EventCursor(receivedAt: event.receivedAt, eventID: event.id)
                if page.isFull {
                    let more = index < chunk.events.count - 1 || chunk.nextCursor != nil
                    next = more ? position : nil
                    break reading
                }
            }
            guard chunk.nextCursor != nil else { break }
        }
        return ["data": .array(page.records), "cursor": next.map { .string($0.rawValue) } ?? .null]
    }

    /// One event, in Inngest's shape.
    public func event(_ id: String) async throws -> JSON {
        ["data": RESTRepresentation.event(try await storedEvent(id))]
    }

    /// Why an event started no run of functions it matched: its admission records.
    public func admissions(ofEvent id: String) async throws -> JSON {
        let event = try await storedEvent(id)
        return ["data": .array(try await client.admissions(of: event.id).map(RESTRepresentation.admission))]
    }

    /// The runs an event triggered (up to 1000), reruns included.
    public func runs(ofEvent id: String) async throws -> JSON {
        let event = try await storedEvent(id)
        let runs = try await client.runs(event: event.id, limit: 1000)
        return ["data": .array(runs.map { RESTRepresentation.run($0) })]
    }

    /// Runs newest first, by function and status, `limit` at a time, and at most
    /// ``maxPageBytes`` of JSON.
    public func runs(function: String?, status: String?, limit: String?, cursor: String?) async throws -> JSON {
        var runStatus: RunStatus?
        if let status {
            guard let parsed = RunStatus(rawValue: status) else {
                throw APIError(.badRequest, "status: must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")), not '\(status)'")
            }
            runStatus = parsed
        }
        var before: RunID?
        if let cursor {
            guard let parsed = RunID(cursor) else { throw APIError(.badRequest, "cursor: not a cursor this API gave") }
            before = parsed
        }
        var page = PageBuilder(limit: try Self.limit(limit), maxBytes: maxPageBytes)
        var next: RunID?
        reading: while true {
            let wanted = page.nextChunkSize
            // One more than wanted, to learn whether another page follows.
            let chunk = try await client.runs(function: function, status: runStatus, limit: wanted + 1, before: before)
            let more = chunk.count > wanted
            let taken = chunk.prefix(wanted)
            for (index, run) in taken.enumerated() {
                guard page.add(RESTRepresentation.run(run)) else {
                    next = before
                    break reading
                }
                before = run.id
                if page.isFull {
                    next = index < taken.count - 1 || more ? before : nil
                    break reading
                }
            }
            guard more else { break }
        }
        return ["data": .array(page.records), "cursor": next.map { .string($0.description) } ?? .null]
    }

    /// The functions the apps on the store registered in this environment.
    public func functions() async throws -> JSON {
        ["data": .array(try await client.functions().map(RESTRepresentation.function))]
    }

    /// One run, with its steps.
    public func run(_ id: String) async throws -> JSON {
        let run = try await storedRun(id)
        let steps = try await client.steps(ofRun: run.id)
        let attempts = StepAttempt.timeline(steps: steps, recorded: try await client.store.attempts(runID: run.id))
        guard case .object(var object) = RESTRepresentation.run(run, steps: steps, attempts: attempts) else { return ["data": .null] }
        object["blocked_by"] = try await client.blockage(of: run).map(RESTRepresentation.blockage) ?? .null
        return ["data": .object(object)]
    }

    /// Cancels a run that has not ended; a 409 when it had.
    public func cancel(_ id: String) async throws -> JSON {
        let runID = try await storedRun(id).id
        let cancelled = try await client.cancelRun(runID)
        let run = try await storedRun(id)
        guard cancelled else { throw APIError(.conflict, "run \(runID) had already ended: \(run.status.rawValue)") }
        return ["data": RESTRepresentation.run(run)]
    }

    /// Queues a new run of the run's function on its event; a 409 when no app registers the
    /// function any more.
    public func rerun(_ id: String) async throws -> JSON {
        let runID = try Self.id(id, "run", as: RunID.self)
        do {
            guard let run = try await client.rerun(runID) else { throw APIError(.notFound, "no run \(runID) in this environment") }
            return ["data": RESTRepresentation.run(run)]
        } catch let error as RerunError {
            throw APIError(.conflict, error.description)
        }
    }

    /// Starts a run of the function `id` with `data` as its event's data
    /// (``StepwiseClient/invoke(_:data:app:)``): a 404 when no app registers the function, a
    /// 409 when several do and `app` is `nil`, a 400 (or 413) for data that is not a JSON
    /// object or is too large.
    public func invoke(function id: String, app: String?, data: JSON) async throws -> JSON {
        guard case .object = data else {
            throw APIError(.badRequest, "data: must be a JSON object, not \(Self.kind(of: data))")
        }
        do {
            let run = try await client.invoke(id, data: EventPayload(json: data), app: app)
            return ["data": RESTRepresentation.run(run)]
        } catch let error as InvokeError {
            throw APIError(error.isAmbiguous ? .conflict : .notFound, error.description)
        } catch let error as EventValidationError {
            switch error.problem {
            case .eventTooLarge, .batchTooLarge: throw APIError(.contentTooLarge, error.description)
            default: throw APIError(.badRequest, error.description)
            }
        }
    }

    /// What an invoke's request body says: `{"data": {…}, "app_id": "…"}`, both optional (an
    /// empty body is `{}`), as Inngest's `POST /invoke/{slug}` takes an event's `data`.
    public static func invocation(fromBody body: JSON?) throws -> (data: JSON, app: String?) {
        guard let body else { return (.emptyObject, nil) }
        guard case .object(let fields) = body else {
            throw APIError(.badRequest, "the body must be a JSON object such as {\"data\": {…}}, not \(kind(of: body))")
        }
        for key in fields.keys where key != "data" && key != "app_id" {
            throw APIError(.badRequest, "\(key): not a field of an invoke; the body takes data and app_id")
        }
        let app: String?
        switch fields["app_id"] {
        case nil, .null?: app = nil
        case .string(let text)?: app = text
        case let other?: throw APIError(.badRequest, "app_id: must be a string, not \(kind(of: other))")
        }
        let data = fields["data"] ?? .emptyObject
        guard case .object = data else { throw APIError(.badRequest, "data: must be a JSON object, not \(kind(of: data))") }
        return (data, app)
    }

    /// A JSON value's kind in words, for errors.
    static func kind(of value: JSON) -> String {
        switch value {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .null: "null"
        case .bool: "a boolean"
        default: "a number"
        }
    }

    // MARK: Parameters

    private func storedEvent(_ id: String) async throws -> StoredEvent {
        let eventID = try Self.id(id, "event", as: EventID.self)
        guard let event = try await client.event(id: eventID) else { throw APIError(.notFound, "no event \(eventID) in this environment") }
        return event
    }

    private func storedRun(_ id: String) async throws -> RunRecord {
        let runID = try Self.id(id, "run", as: RunID.self)
        guard let run = try await client.run(id: runID) else { throw APIError(.notFound, "no run \(runID) in this environment") }
        return run
    }

    private static func limit(_ text: String?) throws -> Int {
        guard let text else { return 50 }
        guard let limit = Int(text), (1...EventQuery.maximumLimit).contains(limit) else {
            throw APIError(.badRequest, "limit: must be a whole number from 1 to \(EventQuery.maximumLimit), not '\(text)'")
        }
        return limit
    }

    private static func time(_ text: String?, _ name: String) throws -> Int64? {
        guard let text else { return nil }
        guard let time = RESTRepresentation.parseTime(text) else {
            throw APIError(.badRequest, "\(name): must be milliseconds since the Unix epoch or an RFC 3339 time, not '\(text)'")
        }
        return time
    }

    private static func id<ID: ULIDIdentifier>(_ text: String, _ what: String, as type: ID.Type) throws -> ID {
        guard let id = ID(text) else { throw APIError(.badRequest, "'\(text)' is not \(what == "event" ? "an" : "a") \(what) id (a ULID)") }
        return id
    }
}
