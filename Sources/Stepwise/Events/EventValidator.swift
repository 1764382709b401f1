/// Checks a batch before anything of it is stored, and prepares it for the store.
///
/// Validation happens in full before the store is touched, so a batch with one bad event is
/// refused whole: the first problem found is thrown, naming the event and the field.
struct EventValidator: Sendable {
    /// Prefixes of names kept for the events Stepwise itself emits. `inngest/` is reserved
    /// too, so that functions written against Inngest's system events never see user events.
    static let reservedPrefixes = ["stepwise/", "inngest/"]

    /// 2000-01-01T00:00:00Z in milliseconds: earlier values are almost always seconds.
    static let earliestTimestamp: Int64 = 946_684_800_000
    /// 2200-01-01T00:00:00Z in milliseconds: later values are almost always microseconds.
    static let latestTimestamp: Int64 = 7_258_118_400_000

    var limits: EventLimits
    /// Whether reserved names are allowed: only for events Stepwise emits itself.
    var allowReservedNames = false
    /// How deeply `data` and `user` may nest: ``JSON/maximumPayloadNestingDepth`` for the
    /// events of users, more for system events, which wrap users' payloads.
    var maxNestingDepth = JSON.maximumPayloadNestingDepth
    /// How a `Date` in a `Codable` payload is written.
    var dates = JSONDateEncoding.iso8601

    func validate(_ events: [Event], receivedAt: Int64) throws(EventValidationError) -> [NewEvent] {
        guard events.count <= limits.maxBatchCount else {
            throw EventValidationError(index: nil, field: nil, problem: .tooManyEvents(count: events.count, limit: limits.maxBatchCount))
        }
        var prepared: [NewEvent] = []
        prepared.reserveCapacity(events.count)
        var batchBytes = events.count > 1 ? 2 + events.count - 1 : 0  // brackets and commas of an array
        for (index, event) in events.enumerated() {
            let (newEvent, bytes) = try validate(event, at: index, receivedAt: receivedAt)
            batchBytes += bytes
            prepared.append(newEvent)
        }
        guard batchBytes <= limits.maxBatchBytes else {
            throw EventValidationError(index: nil, field: nil, problem: .batchTooLarge(bytes: batchBytes, limit: limits.maxBatchBytes))
        }
        return prepared
    }

    private func validate(_ event: Event, at index: Int, receivedAt: Int64) throws(EventValidationError) -> (NewEvent, Int) {
        func failure(_ field: EventValidationError.Field?, _ problem: EventValidationError.Problem) -> EventValidationError {
            EventValidationError(index: index, field: field, problem: problem)
        }

        if event.name.unicodeScalars.allSatisfy(\.properties.isWhitespace) {
            throw failure(.name, .emptyName)
        }
        if let scalar = event.name.firstControlCharacter {
            throw failure(.name, .controlCharacter(scalar))
        }
        if !allowReservedNames, let prefix = Self.reservedPrefix(of: event.name) {
            throw failure(.name, .reservedName(prefix: prefix))
        }

        let (data, dataText) = try objectPayload(event.data, field: .data, index: index)
        var user: JSON?
        var userText: String?
        if let payload = event.user {
            (user, userText) = try objectPayload(payload, field: .user, index: index)
        }

        if let ts = event.ts, !(Self.earliestTimestamp..<Self.latestTimestamp).contains(ts) {
            throw failure(.ts, .implausibleTimestamp(ts))
        }
        let dedupeID = event.id.flatMap { $0.isEmpty ? nil : $0 }
        if let scalar = dedupeID?.firstControlCharacter {
            throw failure(.id, .controlCharacter(scalar))
        }

        // The event's size as the compact JSON object the Event API would receive.
        var bytes = 2 + 7 + JSON.serializedLength(ofString: event.name) + 8 + dataText.utf8.count
        if let userText { bytes += 8 + userText.utf8.count }
        if let dedupeID { bytes += 6 + JSON.serializedLength(ofString: dedupeID) }
        if let ts = event.ts { bytes += 6 + String(ts).utf8.count }
        if let v = event.v { bytes += 5 + JSON.serializedLength(ofString: v) }
        guard bytes <= limits.maxEventBytes else {
            throw failure(nil, .eventTooLarge(bytes: bytes, limit: limits.maxEventBytes))
        }

        let newEvent = NewEvent(
            name: event.name, data: data, dataText: dataText, user: user, userText: userText,
            dedupeID: dedupeID, ts: event.ts ?? receivedAt, v: event.v, timestampGiven: event.ts != nil
        )
        return (newEvent, bytes)
    }

    /// The reserved prefix `name` starts with, compared without regard to ASCII case and
    /// without allocating (this runs for every event sent).
    static func reservedPrefix(of name: String) -> String? {
        reservedPrefixes.first { prefix in
            var nameBytes = name.utf8.makeIterator()
            for expected in prefix.utf8 {
                guard let byte = nameBytes.next() else { return false }
                let lowered = (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) ? byte + 32 : byte
                if lowered != expected { return false }
            }
            return true
        }
    }

    /// The payload as a JSON object and its text. Its depth is measured by the serialization
    /// that writes the text, so that the check costs no pass of its own; a `Codable` payload
    /// so deep that its encoding stops at the store's read limit gets the same error.
    private func objectPayload(
        _ payload: EventPayload, field: EventValidationError.Field, index: Int
    ) throws(EventValidationError) -> (JSON, String) {
        let json: JSON
        do {
            json = try payload.json(dates: dates)
        } catch where error.exceedsNestingDepth {
            throw EventValidationError(index: index, field: field, problem: .nestedTooDeeply(limit: maxNestingDepth))
        } catch {
            throw EventValidationError(index: index, field: field, problem: .unencodable(reason: error.description))
        }
        guard case .object = json else {
            throw EventValidationError(index: index, field: field, problem: .notAnObject(found: json.kindDescription))
        }
        let (text, depth) = json.serializedMeasuringDepth()
        guard depth <= maxNestingDepth else {
            throw EventValidationError(index: index, field: field, problem: .nestedTooDeeply(limit: maxNestingDepth))
        }
        return (json, text)
    }
}
