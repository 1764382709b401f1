#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a client stores events' `user`: encrypted with a ``UserDataCipher``, or in plain text,
/// which a library user must ask for by name (``plaintext``). A client given neither refuses
/// events that carry a `user`, so that no one stores personal data in the clear by omission.
///
/// An encrypted `user` is stored as the JSON object
/// `{"stepwise/encrypted": "<key id>", "ciphertext": "<base64>"}`: the key id beside its
/// ciphertext, so that any key of a rotation opens the rows it sealed, and a store (whose SQL
/// never looks inside `user`) needs no change. System events and step outputs that carry an
/// event copy that envelope, so they hold no plaintext either. The client opens envelopes
/// where `user` leaves Stepwise: a function's event, `waitForEvent`'s event, the client's reads
/// (and so the REST API and the CLI) and the in-process event bus.
public struct UserEncryption: Sendable {
    enum Mode: Sendable {
        case unconfigured
        case plaintext
        case cipher(any UserDataCipher)
    }

    let mode: Mode

    /// `user` stored as sent, in plain text: for development, or an app whose events carry no
    /// personal data. Envelopes already stored still read as an error naming their key.
    public static let plaintext = UserEncryption(mode: .plaintext)

    /// `user` sealed with `cipher` (its ``UserDataCipher/sealingKeyID``) before any store sees it.
    public static func encrypted(with cipher: some UserDataCipher) -> UserEncryption {
        UserEncryption(mode: .cipher(cipher))
    }

    /// Neither chosen, the default: events with a `user` are refused, naming the event, so
    /// that an app chooses ``plaintext`` or a cipher before it stores personal data.
    public static let unconfigured = UserEncryption(mode: .unconfigured)

    /// The cipher, when `user` is encrypted.
    public var cipher: (any UserDataCipher)? {
        if case .cipher(let cipher) = mode { return cipher }
        return nil
    }

    /// The member that marks an envelope, and holds its key id.
    static let marker = "stepwise/encrypted"

    // MARK: Sealing

    /// `events` with every `user` replaced by its envelope.
    ///
    /// - Parameter stored: for a retried request (``EventBatch/idSeed``), the events already
    ///   stored under its ids, by index: one whose `user` opens to the same value keeps its
    ///   envelope, so that the retry is the same bytes as the first request and a duplicate of
    ///   it rather than a conflict (a new seal would have a new nonce).
    func seal(_ events: [NewEvent], stored: [Int: StoredEvent] = [:]) throws(EventValidationError) -> [NewEvent] {
        guard events.contains(where: { $0.user != nil }) else { return events }
        switch mode {
        case .unconfigured:
            let index = events.firstIndex { $0.user != nil } ?? 0
            throw EventValidationError(index: index, field: .user, problem: .encryptionNotConfigured)
        case .plaintext:
            for (index, event) in events.enumerated() where event.user?[Self.marker] != nil {
                throw EventValidationError(index: index, field: .user, problem: .reservedMember(Self.marker))
            }
            return events
        case .cipher(let cipher):
            var sealed: [NewEvent] = []
            sealed.reserveCapacity(events.count)
            let writer = EnvelopeWriter(keyID: cipher.sealingKeyID)
            for (index, event) in events.enumerated() {
                guard let userText = event.userText else {
                    sealed.append(event)
                    continue
                }
                if let earlier = stored[index]?.user, Self.keyID(of: earlier) != nil, let user = event.user,
                   (try? open(earlier)) == user
                {
                    sealed.append(NewEvent(
                        name: event.name, data: event.data, dataText: event.dataText, user: earlier, userText: earlier.serialized,
                        dedupeID: event.dedupeID, ts: event.ts, v: event.v, timestampGiven: event.timestampGiven))
                    continue
                }
                let envelope: (json: JSON, text: String)
                do {
                    envelope = writer.envelope(of: try cipher.sealToBase64(userText))
                } catch {
                    throw EventValidationError(index: index, field: .user, problem: .unencodable(reason: error.description))
                }
                sealed.append(NewEvent(
                    name: event.name, data: event.data, dataText: event.dataText, user: envelope.json, userText: envelope.text,
                    dedupeID: event.dedupeID, ts: event.ts, v: event.v, timestampGiven: event.timestampGiven))
            }
            return sealed
        }
    }

    /// The envelope of `text` (a `user` as compact JSON text), sealed with the cipher's first key.
    static func envelope(sealing text: String, with cipher: any UserDataCipher) throws(UserDecryptionError) -> JSON {
        try sealed(text, with: cipher).json
    }

    /// The envelope of `text` as a value and as the compact JSON text a store keeps, written
    /// directly rather than serialized: base64 needs no escaping, the key id is escaped once.
    static func sealed(_ text: String, with cipher: any UserDataCipher) throws(UserDecryptionError) -> (json: JSON, text: String) {
        EnvelopeWriter(keyID: cipher.sealingKeyID).envelope(of: try cipher.sealToBase64(text))
    }

    /// Writes envelopes for one key: the text up to the ciphertext is the same for each, so
    /// it is written (and the key id escaped) once per batch, not once per event.
    struct EnvelopeWriter {
        let keyID: String
        let prefix: String

        init(keyID: String) {
            self.keyID = keyID
            prefix = "{\"\(UserEncryption.marker)\":\(JSON.string(keyID).serialized),\"ciphertext\":\""
        }

        /// The envelope of `ciphertext` (base64, which needs no escaping) as a value and as
        /// the compact JSON text a store keeps.
        func envelope(of ciphertext: String) -> (json: JSON, text: String) {
            (.object([UserEncryption.markerKey: .string(keyID), UserEncryption.ciphertextKey: .string(ciphertext)]), prefix + ciphertext + "\"}")
        }
    }

    static let markerKey = JSON.Key(marker)
    static let ciphertextKey: JSON.Key = "ciphertext"

    // MARK: Opening

    /// The key id of an envelope, or `nil` when `json` is no envelope.
    static func keyID(of json: JSON) -> String? {
        guard case .object(let members) = json, let keyID = members[marker]?.stringValue else { return nil }
        return keyID
    }

    /// `user` opened: an envelope decrypted, anything else as it is.
    ///
    /// - Throws: ``UserDecryptionError`` naming the key when the envelope cannot be opened.
    public func open(_ user: JSON) throws(UserDecryptionError) -> JSON {
        guard let keyID = Self.keyID(of: user) else { return user }
        guard let cipher else { throw .missingKey(keyID: keyID) }
        guard let encoded = user["ciphertext"]?.stringValue, let bytes = Data(base64Encoded: encoded) else {
            throw .malformedEnvelope(reason: "'ciphertext' is not base64 text")
        }
        let plaintext = try cipher.open(Array(bytes), keyID: keyID)
        let text = String(decoding: plaintext, as: UTF8.self)
        do {
            return try JSON(parsing: text)
        } catch {
            throw .malformedEnvelope(reason: "the decrypted bytes are not JSON")
        }
    }

    /// `json` with every envelope inside it opened, at any depth: a system event's or a step
    /// output's copy of an event.
    public func openAll(in json: JSON) throws(UserDecryptionError) -> JSON {
        switch json {
        case .object(let members):
            if Self.keyID(of: json) != nil { return try open(json) }
            guard members.values.contains(where: Self.mayHoldEnvelope) else { return json }
            var opened = members
            for (key, value) in members where Self.mayHoldEnvelope(value) {
                opened[key] = try openAll(in: value)
            }
            return .object(opened)
        case .array(let values):
            guard values.contains(where: Self.mayHoldEnvelope) else { return json }
            var opened: [JSON] = []
            opened.reserveCapacity(values.count)
            for value in values { opened.append(try openAll(in: value)) }
            return .array(opened)
        default:
            return json
        }
    }

    private static func mayHoldEnvelope(_ json: JSON) -> Bool {
        switch json {
        case .object, .array: return true
        default: return false
        }
    }

    /// `event` with its `user`, and any envelope in its `data` (a system event's copy of the
    /// event that started a run), opened.
    public func open(_ event: StoredEvent) throws(UserDecryptionError) -> StoredEvent {
        let user = try event.user.map { (user) throws(UserDecryptionError) in try open(user) }
        let data = try openAll(in: event.data)
        return StoredEvent(
            id: event.id, environment: event.environment, name: event.name, data: data, user: user, dedupeID: event.dedupeID,
            ts: event.ts, v: event.v, receivedAt: event.receivedAt, traceContext: event.traceContext)
    }
}
