/// Why an expression could not be read: the text, where reading stopped, and what was
/// expected there, so that the message alone lets the author find and fix the mistake in a
/// function definition they may not have in front of them.
///
/// ```text
/// expected ')' at 18 in "event.data.x == (1"
/// ```
public struct ExpressionParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The expression as it was given.
    public let expression: String
    /// Where reading stopped: a 0-based offset in characters (Swift `Character`s) from the
    /// start of ``expression``, so that for the usual ASCII text it is the column an editor
    /// shows, less one. At the end of the text it equals the text's length.
    public let position: Int
    /// What went wrong there, such as "expected ')'" or "unknown function 'lower'".
    public let reason: String

    /// An error as the parser reports it; public so that tests and other front ends (a
    /// definition read over HTTP) can build the same error to compare or rethrow.
    public init(expression: String, position: Int, reason: String) {
        self.expression = expression
        self.position = position
        self.reason = reason
    }

    /// The reason, the position and the expression in one line, for a definition error.
    public var description: String { "\(reason) at \(position) in \(Self.quoted(expression))" }

    /// The text in double quotes, cut short when long: a message quoting a whole kilobyte of
    /// expression (or a stored condition's megabytes) would bury the reason. Measured without
    /// counting the whole text, which for megabytes would take seconds.
    static func quoted(_ text: String) -> String {
        let shown = text.prefix(200)
        return "\"" + shown + (shown.endIndex < text.endIndex ? "…" : "") + "\""
    }
}
