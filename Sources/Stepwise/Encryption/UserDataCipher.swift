#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Seals and opens the bytes of an event's `user` (the seed document: "This data is encrypted
/// at rest").
///
/// A protocol in the core, implemented elsewhere (`AESGCMCipher` in StepwiseEncryption, over
/// swift-crypto), so that `import Stepwise` builds no cryptography library for an app that
/// stores no `user`. Stepwise calls it before any store sees an event, and wraps what it
/// returns in an envelope that names the key (``UserEncryption``): stores keep that envelope as
/// they keep any JSON object, and never need the plaintext.
public protocol UserDataCipher: Sendable {
    /// The id of the key that seals new data (the first of a key list): a new first key
    /// seals every event sent after it is configured, while the others still open older rows.
    var sealingKeyID: String { get }

    /// Whether this cipher holds the key `keyID`, to open or to re-seal a row with.
    func holdsKey(_ keyID: String) -> Bool

    /// `plaintext` sealed with the key ``sealingKeyID``: the ciphertext with whatever the
    /// cipher needs to open it again (nonce, tag), in one byte string.
    func seal(_ plaintext: [UInt8]) throws(UserDecryptionError) -> [UInt8]

    /// `text`'s UTF-8 sealed as ``seal(_:)`` does, as the base64 text an envelope stores: one
    /// call per event on the path of every `send`, so a cipher may do it without the copies
    /// between byte arrays that the default makes.
    func sealToBase64(_ text: String) throws(UserDecryptionError) -> String

    /// The plaintext of `ciphertext`, sealed with the key `keyID`.
    ///
    /// - Throws: ``UserDecryptionError/missingKey(keyID:)`` when the cipher does not hold the
    ///   key, ``UserDecryptionError/cannotOpen(keyID:)`` when the key does not open the bytes
    ///   (another key with the same id, or bytes changed): never garbage.
    func open(_ ciphertext: [UInt8], keyID: String) throws(UserDecryptionError) -> [UInt8]
}

extension UserDataCipher {
    public func sealToBase64(_ text: String) throws(UserDecryptionError) -> String {
        Data(try seal(Array(text.utf8))).base64EncodedString()
    }
}

/// Why an event's `user` could not be read (or sealed).
public enum UserDecryptionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The row was sealed with a key that is not configured (dropped too early from
    /// `STEPWISE_ENCRYPTION_KEYS`, or a reader started without keys).
    case missingKey(keyID: String)
    /// The key with this id does not open the row: a different key under the same id, or the
    /// stored bytes were changed.
    case cannotOpen(keyID: String)
    /// The stored envelope is not one Stepwise wrote: `reason` says what is wrong.
    case malformedEnvelope(reason: String)
    /// The cipher could not seal (its library failed).
    case sealingFailed(reason: String)

    public var description: String {
        switch self {
        case .missingKey(let keyID):
            return "user was encrypted with key '\(keyID)', which is not configured (STEPWISE_ENCRYPTION_KEYS)"
        case .cannotOpen(let keyID):
            return "user cannot be decrypted with the configured key '\(keyID)': a different key under that id, or the stored bytes changed"
        case .malformedEnvelope(let reason):
            return "user's encrypted envelope is malformed: \(reason)"
        case .sealingFailed(let reason):
            return "user could not be encrypted: \(reason)"
        }
    }
}
