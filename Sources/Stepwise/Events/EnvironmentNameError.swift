/// Why an environment's name was refused; nothing was stored under it.
///
/// The message names the rule, and never repeats the name's characters back: a name refused
/// for its control characters would carry them into a log or a terminal.
public struct EnvironmentNameError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The rule the name breaks, in words, such as `must not contain control characters (found U+001B)`.
    public let reason: String

    /// An error with this reason.
    public init(reason: String) {
        self.reason = reason
    }

    /// `environment name <reason>`.
    public var description: String { "environment name \(reason)" }
}
