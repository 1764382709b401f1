/// How a step's key, the name its record is stored under, is made from the step's id.
///
/// The first step with an id is keyed by the id itself. A later step with the same id in the
/// same run (a loop) gets a generated key: the id, U+001F (INFORMATION SEPARATOR ONE) and the
/// occurrence, so that the tenth `step.run("email")` is `email␟9`. Step ids may not contain
/// control characters, so no id a user writes can ever produce a generated key (DESIGN.md,
/// invariant 8): `step.run("email:1")` is its own step, whatever came before it.
///
/// Runs recorded before this scheme keyed repeats as `email:1`, a form a user id could also
/// produce. Their records still replay: a repeat whose new key has no record falls back to
/// the old key, but only if the record there was made by the same id (records keep their id),
/// so a user's own step `email:1` is never mistaken for a repeat of `email`.
enum StepKey {
    /// The separator between an id and its occurrence in a generated key.
    static let separator: Character = "\u{1F}"

    /// The key of the `occurrence`th step (from 0) with `id` in a run.
    static func key(id: String, occurrence: Int) -> String {
        occurrence == 0 ? id : "\(id)\(separator)\(occurrence)"
    }

    /// The key the same step had before generated keys got their own separator.
    static func legacyKey(id: String, occurrence: Int) -> String {
        "\(id):\(occurrence)"
    }

    /// Why `id` cannot name a step, or `nil` when it can.
    static func problem(with id: String) -> String? {
        if let scalar = id.firstControlCharacter {
            return "a step id contains the control character \(scalar.codePointDescription), and step ids may not"
        }
        return nil
    }
}
