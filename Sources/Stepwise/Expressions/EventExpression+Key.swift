extension EventExpression {
    /// A key expression's value as the text a store keeps and compares: the events whose
    /// keys are equal texts share a limit.
    ///
    /// - A string is used as it is, so `event.data.customerId` keys by the id itself.
    /// - Anything else is written as canonical JSON: `null` as `null`, booleans as `true`
    ///   and `false`, a number with no fractional part that fits in 64 bits as an integer
    ///   (`3.0` is `3`, as `1 == 1.0`), other numbers in their shortest exact form, and
    ///   objects with their keys sorted, so that values equal as JSON give one key.
    ///
    /// So every event lacking the field shares the key `null`, as in Inngest, where a
    /// missing field also shares one key. A string and the JSON text of another value can
    /// coincide (`"7"` and `7`); write `string(…)` on both sides to make that explicit.
    @_spi(StoreImplementation)
    public static func keyText(of value: JSON) -> String {
        if case .string(let text) = value { return text }
        var output = ""
        writeCanonical(value, to: &output)
        return output
    }

    private static func writeCanonical(_ value: JSON, to output: inout String) {
        switch value {
        case .null, .bool, .string:
            output += value.serialized
        case .int, .double:
            output += ExpressionEvaluator.numberText(value)
        case .array(let elements):
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                writeCanonical(element, to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { output += "," }
                output += JSON.string(key.string).serialized + ":"
                writeCanonical(members[key] ?? .null, to: &output)
            }
            output += "}"
        }
    }
}
