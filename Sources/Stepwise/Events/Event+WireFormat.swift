/// Events as JSON on the wire: the payloads of Inngest's Event API (`POST /e/{key}`), one
/// object or an array of them.
extension Event {
    /// The events of a request body: one event object, or an array of event objects.
    ///
    /// Fields are those of ``Event``: `name` and `data` (required: a string, an object), `user`
    /// (an object), `id` and `v` (strings), `ts` (an integer of milliseconds). A `null` field
    /// counts as absent, and so does a `ts` of 0, which Inngest's SDKs send for "now". Other
    /// fields are ignored, as Inngest ignores them.
    ///
    /// - Throws: ``EventValidationError`` naming the event's index and the field at fault.
    public static func batch(fromWireFormat json: JSON) throws(EventValidationError) -> [Event] {
        switch json {
        case .object:
            return [try Event(wireFormat: json, index: 0)]
        case .array(let elements):
            var events: [Event] = []
            events.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                events.append(try Event(wireFormat: element, index: index))
            }
            return events
        default:
            throw EventValidationError(
                index: nil, field: nil, problem: .wrongType(expected: "an event object or an array of them", found: json.kindDescription))
        }
    }

    /// One event object of a request body, at `index` in it.
    ///
    /// - Throws: ``EventValidationError`` naming `index` and the field at fault.
    public init(wireFormat json: JSON, index: Int) throws(EventValidationError) {
        guard case .object(let fields) = json else {
            throw EventValidationError(index: index, field: nil, problem: .wrongType(expected: "an event object", found: json.kindDescription))
        }
        func present(_ field: EventValidationError.Field) -> JSON? {
            guard let value = fields[field.rawValue], !value.isNull else { return nil }
            return value
        }
        func string(_ field: EventValidationError.Field) throws(EventValidationError) -> String? {
            guard let value = present(field) else { return nil }
            guard let text = value.stringValue else {
                throw EventValidationError(index: index, field: field, problem: .wrongType(expected: "a string", found: value.kindDescription))
            }
            return text
        }
        guard let name = try string(.name) else {
            throw EventValidationError(index: index, field: .name, problem: .missing)
        }
        var ts: Int64?
        if let value = present(.ts) {
            guard let milliseconds = value.intValue else {
                throw EventValidationError(
                    index: index, field: .ts, problem: .wrongType(expected: "an integer of milliseconds since the Unix epoch", found: value.kindDescription))
            }
            ts = milliseconds == 0 ? nil : milliseconds
        }
        // "The event payload is a JSON object that must contain a name and data property"
        // (Inngest's "Sending events"). The types of `data` and `user` are checked by
        // validation, with the same index.
        let id = try string(.id)
        let v = try string(.v)
        guard let data = present(.data) else {
            throw EventValidationError(index: index, field: .data, problem: .missing)
        }
        self.init(name: name, data: data, user: present(.user).map(EventPayload.init(json:)), id: id, ts: ts, v: v)
    }
}

extension Event {
    /// A batch as the body of an Event API request: a JSON array of event objects, validated
    /// as `send` validates (so that a bad event fails here, with its index and field, before
    /// anything goes over the network).
    ///
    /// - Parameter now: the time an event without `ts` is stamped with, in milliseconds.
    /// - Throws: ``EventValidationError``.
    public static func wireFormat(_ events: [Event], limits: EventLimits = .default, now: Int64) throws(EventValidationError) -> [UInt8] {
        let prepared = try EventValidator(limits: limits, allowReservedNames: false).validate(events, receivedAt: now)
        // Written around the payload texts validation already made, instead of serializing
        // each payload a second time: this is the sender's hot path.
        var body: [UInt8] = []
        body.reserveCapacity(prepared.reduce(2) { $0 + $1.dataText.utf8.count + ($1.userText?.utf8.count ?? 0) + $1.name.utf8.count + 96 })
        body.append(UInt8(ascii: "["))
        for (index, event) in prepared.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += #"{"name":"#.utf8
            JSON.writeString(event.name, to: &body)
            body += #","data":"#.utf8
            body += event.dataText.utf8
            if let user = event.userText {
                body += #","user":"#.utf8
                body += user.utf8
            }
            if let id = event.dedupeID {
                body += #","id":"#.utf8
                JSON.writeString(id, to: &body)
            }
            body += #","ts":"#.utf8
            body += String(event.ts).utf8
            if let v = event.v {
                body += #","v":"#.utf8
                JSON.writeString(v, to: &body)
            }
            body.append(UInt8(ascii: "}"))
        }
        body.append(UInt8(ascii: "]"))
        return body
    }
}
