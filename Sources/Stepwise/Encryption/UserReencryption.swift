/// What re-encrypting stored rows did (``StepwiseClient/reencryptUsers(batchSize:)``).
public struct ReencryptionReport: Sendable, Hashable, CustomStringConvertible {
    /// Rows sealed with an older key, now sealed with the first.
    public var rewritten = 0
    /// Rows sealed with the first key already, or stored in plain text.
    public var current = 0
    /// Rows whose key is not configured, by key id: left as they are.
    public var missingKeys: [String: Int] = [:]
    /// Rows another writer changed between the read and the rewrite; run again for them.
    public var changedMeanwhile = 0

    public var description: String {
        var text = "re-encrypted \(rewritten) events; \(current) already current"
        if changedMeanwhile > 0 { text += "; \(changedMeanwhile) changed meanwhile (run again)" }
        for (key, count) in missingKeys.sorted(by: { $0.key < $1.key }) {
            text += "\n\(count) events need key '\(key)', which is not configured: left as they are"
        }
        return text
    }
}

/// Why re-encryption could not start.
public enum ReencryptionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The client stores `user` in plain text, or refuses it: there is no key to seal with.
    case noCipher
    /// The client's store does not conform to ``StoreUserRewrite``.
    case storeCannotRewrite(String)

    public var description: String {
        switch self {
        case .noCipher: return "no encryption key is configured to re-encrypt with (STEPWISE_ENCRYPTION_KEYS)"
        case .storeCannotRewrite(let store): return "the store \(store) cannot rewrite user (it does not conform to StoreUserRewrite)"
        }
    }
}

extension StepwiseClient {
    /// Re-encrypts with the first key every event `user` of the client's environment sealed
    /// with another, a page of `batchSize` rows per transaction, so that workers go on meanwhile
    /// and an old key can be dropped afterwards (system events and step outputs keep their
    /// copies until retention deletes them).
    ///
    /// - Throws: ``ReencryptionError``, or the store's error (pages before it stay rewritten).
    public func reencryptUsers(batchSize: Int = 200) async throws -> ReencryptionReport {
        guard let cipher = configuration.userEncryption.cipher else { throw ReencryptionError.noCipher }
        guard let store = store as? any StoreUserRewrite else { throw ReencryptionError.storeCannotRewrite("\(type(of: store))") }
        let environment = configuration.environment
        var report = ReencryptionReport()
        var after: EventID?
        while true {
            try Task.checkCancellation()
            let page = try await store.storedUsers(environment: environment, after: after, limit: max(1, batchSize))
            guard let last = page.last else { break }
            after = last.eventID
            var rewrites: [UserRewrite] = []
            for row in page {
                guard let stored = try? JSON(parsing: row.userText), let keyID = UserEncryption.keyID(of: stored),
                      keyID != cipher.sealingKeyID
                else {
                    report.current += 1
                    continue
                }
                guard cipher.holdsKey(keyID) else {
                    report.missingKeys[keyID, default: 0] += 1
                    continue
                }
                let plaintext = try configuration.userEncryption.open(stored)
                let envelope = try UserEncryption.envelope(sealing: plaintext.serialized, with: cipher)
                rewrites.append(UserRewrite(eventID: row.eventID, old: row.userText, new: envelope.serialized))
            }
            if !rewrites.isEmpty {
                let changed = try await store.rewriteUsers(rewrites, environment: environment)
                report.rewritten += changed
                report.changedMeanwhile += rewrites.count - changed
            }
            if page.count < batchSize { break }
        }
        return report
    }
}
