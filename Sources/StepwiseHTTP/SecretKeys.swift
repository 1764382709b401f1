import Crypto
import Foundation

/// A set of secrets (event keys, signing keys) kept only as SHA-256 digests: the server
/// never holds a key's text after start-up, so a memory dump or a log line cannot leak one.
///
/// A presented key is hashed and compared with every digest in constant time, so the time an
/// answer takes says nothing about how much of a key was right.
public struct SecretKeys: Sendable, Hashable, CustomStringConvertible {
    private let digests: [[UInt8]]

    /// Hashes `keys`; empty strings and surrounding whitespace (a trailing newline from a
    /// secrets file) are dropped.
    public init(_ keys: some Sequence<String>) {
        var digests: [[UInt8]] = []
        for key in keys {
            let trimmed = key.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            let digest = Self.digest(trimmed)
            if !digests.contains(digest) { digests.append(digest) }
        }
        self.digests = digests
    }

    /// Whether no key is configured.
    public var isEmpty: Bool { digests.isEmpty }

    /// How many distinct keys are configured.
    public var count: Int { digests.count }

    /// How many keys there are: nothing of them, not even their digests, goes into a log.
    public var description: String { "SecretKeys(\(digests.count) keys)" }

    /// Whether `key` is one of the keys.
    public func contains(_ key: String) -> Bool {
        let presented = Self.digest(key)
        var found = false
        for digest in digests {
            var difference: UInt8 = 0
            for (a, b) in zip(digest, presented) { difference |= a ^ b }
            found = found || difference == 0
        }
        return found
    }

    private static func digest(_ key: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(key.utf8)))
    }
}
