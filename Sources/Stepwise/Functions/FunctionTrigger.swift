/// What starts a function's runs.
public struct FunctionTrigger: Sendable, Hashable, CustomStringConvertible {
    let registration: TriggerRegistration

    /// Runs the function for every event whose name matches: an exact name, or a prefix
    /// ending in `*` such as `"storefront/*"`.
    public static func event(_ pattern: EventPattern) -> FunctionTrigger {
        FunctionTrigger(registration: TriggerRegistration(pattern: pattern))
    }

    public var description: String { "event \(registration.pattern)" }
}
