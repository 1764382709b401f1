import Foundation
import Stepwise
import StepwiseEncryption

/// Where the tool's keys for events' `user` come from: `STEPWISE_ENCRYPTION_KEYS`, `id:base64key`
/// entries separated by commas, the first of which encrypts new events.
enum EncryptionKeys {
    static let variable = "STEPWISE_ENCRYPTION_KEYS"

    /// The cipher the variable configures, or `nil` when it is unset or empty.
    ///
    /// - Throws: ``CLIError`` naming the variable and the entry at fault.
    static func cipher(_ variables: [String: String]) throws -> AESGCMCipher? {
        guard let text = variables[variable], !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        do {
            return try AESGCMCipher(configuration: text)
        } catch {
            throw CLIError("\(variable): \(error)")
        }
    }

    /// How a command stores `user`: with the configured keys; without them, in plain text only
    /// in development (`stepwise dev` says so when it starts), and otherwise not at all, so that
    /// an event with a `user` is refused rather than stored in the clear.
    static func userEncryption(_ variables: [String: String], development: Bool) throws -> UserEncryption {
        if let cipher = try cipher(variables) { return .encrypted(with: cipher) }
        return development ? .plaintext : .unconfigured
    }
}
