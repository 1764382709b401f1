import Crypto
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Stepwise

/// AES-256-GCM over events' `user`, with a list of keys for rotation: the first seals, every
/// key opens what it sealed. Each ciphertext is authenticated together with its key's id, so a
/// row cannot be made to open under another id, and a wrong key is an error, never garbage.
///
/// ```swift
/// let cipher = try AESGCMCipher(configuration: "2026-12:BASE64KEY,2026-06:OLDERKEY")
/// let configuration = StepwiseClient.Configuration(userEncryption: .encrypted(with: cipher))
/// ```
public struct AESGCMCipher: UserDataCipher {
    /// One key and the id stored beside every ciphertext it seals.
    public struct Key: Sendable {
        public let id: String
        let key: SymmetricKey

        /// A key of 32 bytes (AES-256), under an id of letters, digits, `-`, `_` and `.`.
        ///
        /// - Throws: ``EncryptionKeyError`` for an id or key that breaks those rules.
        public init(id: String, bytes: [UInt8]) throws(EncryptionKeyError) {
            try Self.validate(id: id)
            guard bytes.count == 32 else { throw .wrongLength(keyID: id, bytes: bytes.count) }
            self.id = id
            self.key = SymmetricKey(data: bytes)
        }

        /// A key given as base64 text, as `STEPWISE_ENCRYPTION_KEYS` holds it.
        public init(id: String, base64: String) throws(EncryptionKeyError) {
            try Self.validate(id: id)
            guard let data = Data(base64Encoded: base64) else { throw .notBase64(keyID: id) }
            try self.init(id: id, bytes: Array(data))
        }

        /// A new random key, for tests and for `stepwise keys generate`.
        public static func random(id: String) throws(EncryptionKeyError) -> Key {
            try Key(id: id, bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        }

        /// The key as base64 text, for a configuration.
        public var base64: String { key.withUnsafeBytes { Data($0).base64EncodedString() } }

        static func validate(id: String) throws(EncryptionKeyError) {
            guard !id.isEmpty, id.utf8.count <= 64,
                  id.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) })
            else { throw .invalidID(id) }
        }
    }

    /// The keys, the sealing one first.
    public let keys: [Key]
    private let byID: [String: SymmetricKey]
    private let nonces = NonceSequence()
    /// The sealing key's id as the authenticated data every seal binds, made once.
    private let sealingAAD: Data

    /// A cipher over `keys`, the first of which seals.
    ///
    /// - Throws: ``EncryptionKeyError`` for no keys, or two under one id.
    public init(keys: [Key]) throws(EncryptionKeyError) {
        guard !keys.isEmpty else { throw .noKeys }
        var byID: [String: SymmetricKey] = [:]
        for key in keys {
            guard byID.updateValue(key.key, forKey: key.id) == nil else { throw .duplicateID(key.id) }
        }
        self.keys = keys
        self.byID = byID
        self.sealingAAD = Data(keys[0].id.utf8)
    }

    /// A cipher over a key list as `STEPWISE_ENCRYPTION_KEYS` holds it: `id:base64key`
    /// entries separated by commas, the sealing key first.
    ///
    /// - Throws: ``EncryptionKeyError`` naming the entry at fault.
    public init(configuration text: String) throws(EncryptionKeyError) {
        var keys: [Key] = []
        for (index, entry) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let entry = entry.trimmingCharacters(in: .whitespaces)
            guard let colon = entry.firstIndex(of: ":") else { throw .malformedEntry(index: index) }
            keys.append(try Key(id: String(entry[..<colon]), base64: String(entry[entry.index(after: colon)...])))
        }
        try self.init(keys: keys)
    }

    public var sealingKeyID: String { keys[0].id }

    public func holdsKey(_ keyID: String) -> Bool { byID[keyID] != nil }

    public func seal(_ plaintext: [UInt8]) throws(UserDecryptionError) -> [UInt8] {
        let key = keys[0]
        do {
            let box = try AES.GCM.seal(plaintext, using: key.key, nonce: nonces.next(), authenticating: Array(key.id.utf8))
            guard let combined = box.combined else { throw UserDecryptionError.sealingFailed(reason: "no combined representation") }
            return Array(combined)
        } catch let error as UserDecryptionError {
            throw error
        } catch {
            throw .sealingFailed(reason: "\(error)")
        }
    }

    /// Seals `text`'s UTF-8 where it lies and encodes the combined box directly: no byte array
    /// for the plaintext, the authenticated data or the result, which cost as much as the
    /// seal itself for a `user` of a hundred bytes.
    public func sealToBase64(_ text: String) throws(UserDecryptionError) -> String {
        var text = text
        do {
            let box = try text.withUTF8 { bytes in
                try AES.GCM.seal(UnsafeRawBufferPointer(bytes), using: keys[0].key, nonce: nonces.next(), authenticating: sealingAAD)
            }
            guard let combined = box.combined else { throw UserDecryptionError.sealingFailed(reason: "no combined representation") }
            return combined.base64EncodedString()
        } catch let error as UserDecryptionError {
            throw error
        } catch {
            throw .sealingFailed(reason: "\(error)")
        }
    }

    public func open(_ ciphertext: [UInt8], keyID: String) throws(UserDecryptionError) -> [UInt8] {
        guard let key = byID[keyID] else { throw .missingKey(keyID: keyID) }
        do {
            let box = try AES.GCM.SealedBox(combined: ciphertext)
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(keyID.utf8)))
        } catch {
            throw .cannotOpen(keyID: keyID)
        }
    }
}

/// Why a key, or a key list, was refused.
public enum EncryptionKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    case noKeys
    case invalidID(String)
    case duplicateID(String)
    case notBase64(keyID: String)
    case wrongLength(keyID: String, bytes: Int)
    /// Entry `index` (from 0) of a key list has no `id:` before its key.
    case malformedEntry(index: Int)

    public var description: String {
        switch self {
        case .noKeys: return "no encryption key is given"
        case .invalidID(let id): return "key id '\(id)' must be 1 to 64 ASCII letters, digits, '-', '_' or '.'"
        case .duplicateID(let id): return "key id '\(id)' is given twice"
        case .notBase64(let id): return "key '\(id)' is not base64 text"
        case .wrongLength(let id, let bytes): return "key '\(id)' is \(bytes) bytes; AES-256 needs 32"
        case .malformedEntry(let index): return "key list entry \(index) is not 'id:base64key'"
        }
    }
}

/// Nonces for one cipher's seals: 96 random bits drawn once, with a 64-bit counter added into
/// their low half, as TLS 1.3 derives its per-record nonces (RFC 8446, section 5.3). Unique
/// for as long as the counter does not wrap (2^64 seals), and across processes as long as
/// two random starts do not land within a run's length of each other: a one-in-2^32 chance
/// for their high halves to match at all. It spares a system call for random bytes per
/// event, which was a third of sealing's cost (`stepwise-bench ingest --encryption`).
final class NonceSequence: Sendable {
    private let high: UInt32
    private let low: UInt64
    private let counter = Atomic<UInt64>(0)

    init() {
        var generator = SystemRandomNumberGenerator()
        high = generator.next()
        low = generator.next()
    }

    func next() throws -> AES.GCM.Nonce {
        let value = low &+ counter.wrappingAdd(1, ordering: .relaxed).oldValue
        // The 12 bytes big-endian, on the stack (three 32-bit words: no padding between them),
        // rather than in an array per seal.
        var bytes = (high.bigEndian, UInt32(truncatingIfNeeded: value >> 32).bigEndian, UInt32(truncatingIfNeeded: value).bigEndian)
        return try withUnsafeBytes(of: &bytes) { buffer in try AES.GCM.Nonce(data: buffer) }
    }
}
