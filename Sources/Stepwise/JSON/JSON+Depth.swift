extension JSON {
    /// How deeply the arrays and objects of a payload you give Stepwise may nest: event `data`
    /// and `user`, step results and function outputs.
    ///
    /// The store reads back ``maximumNestingDepth`` (256) levels. Stepwise wraps payloads in
    /// envelopes of its own: a run's `function.finished` and `function.failed` hold the
    /// triggering event two levels down, a step waiting for an event records it one level
    /// down. The sixteen levels between the two limits are room for those envelopes, and
    /// for envelopes to come, so that no payload accepted today becomes unreadable once
    /// Stepwise has wrapped it.
    public static let maximumPayloadNestingDepth = 240

    /// How deeply a system event's data may nest: one level less than the store reads, so
    /// that a step waiting for the event can record it one level down. The summary of the
    /// triggering event inside a system event leaves its payloads out where they would nest
    /// deeper (see ``SystemEvent``).
    static let maximumSystemEventNestingDepth = maximumNestingDepth - 1

    /// How many levels of arrays and objects this value nests: 0 for a scalar, 1 for `[]`
    /// or `{}`, 2 for `[[]]`. A walk that allocates nothing, for values that reach a
    /// boundary already built (a `JSON` step result); values that are parsed or serialized
    /// on the way get their depth from that pass instead.
    var nestingDepth: Int {
        switch self {
        case .null, .bool, .int, .double, .string:
            return 0
        case .array(let elements):
            var deepest = 0
            for element in elements { deepest = Swift.max(deepest, element.nestingDepth) }
            return deepest + 1
        case .object(let members):
            var deepest = 0
            for value in members.values { deepest = Swift.max(deepest, value.nestingDepth) }
            return deepest + 1
        }
    }
}
