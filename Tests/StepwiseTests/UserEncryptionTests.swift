import Foundation
import Synchronization
import Testing
@testable import Stepwise
import StepwiseEncryption
import StepwiseTesting

/// `user` encrypted at rest (issue 14): sealed before any store sees it, opened where it leaves
/// Stepwise, rotated by key id, and a missing or wrong key an error naming the key.
@Suite("User encrypted at rest")
struct UserEncryptionTests {
    /// A `user` with a value that appears nowhere else, to look for in the database's bytes.
    static func secretUser() -> (marker: String, user: EventPayload) {
        let marker = "pii-\(UInt64.random(in: 0...UInt64.max))-alice@example.com"
        return (marker, ["email": .string(marker), "name": "Alice"])
    }

    static func cipher(_ ids: String...) throws -> AESGCMCipher {
        try AESGCMCipher(keys: ids.map { try AESGCMCipher.Key.random(id: $0) })
    }

    @Test("the database file and its WAL hold no byte of a stored user, in events, system events and step outputs; every reader sees it decrypted")
    func noPlaintextOnDisk() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("encrypted.db")
        let cipher = try Self.cipher("k1")
        let store = try SQLiteStore(.init(path: path))
        let harness = try Harness(store: store, userEncryption: .encrypted(with: cipher))
        let (marker, user) = Self.secretUser()
        let seen = Mutex<[String]>([])
        try harness.client.createFunction(id: "greet", trigger: .event("app/signup")) { event, step in
            seen.withLock { $0.append(event.user?["email"]?.stringValue ?? "none") }
            // The wait's step output records the event it received, user included.
            let confirmed = try await step.waitForEvent("confirmed", event: "app/confirmed", timeout: .seconds(60))
            seen.withLock { $0.append(confirmed?.user?["email"]?.stringValue ?? "none") }
            return "greeted"
        }
        let subscription = harness.client.subscribe(to: EventPattern("app/signup"))
        let id = try await harness.client.send(Event(name: "app/signup", data: ["plan": "pro"], user: user))
        // Not runUntilIdle: that would move the clock to the wait's timeout.
        try await harness.worker.drain()
        try await harness.client.send(Event(name: "app/confirmed", user: user))
        try await harness.runUntilIdle()

        #expect(seen.withLock { $0 } == [marker, marker, marker], "the function saw the user decrypted, in its event (twice: replayed) and its wait's")
        let read = try #require(try await harness.client.event(id: id))
        #expect(read.user?["email"]?.stringValue == marker, "the client reads it decrypted")
        var delivered: StoredEvent?
        for await event in subscription { delivered = event; break }
        #expect(delivered?.user?["email"]?.stringValue == marker, "the bus delivers it decrypted")
        let run = try await harness.onlyRun(of: "greet")
        #expect(run.status == .completed)
        let steps = try await harness.client.steps(ofRun: run.id)
        #expect(steps.first?.receivedEvent?.user?["email"]?.stringValue == marker, "a wait's step reads decrypted through the client")
        let raw = try #require(try await store.event(id: id, environment: "default"))
        #expect(raw.user?["stepwise/encrypted"]?.stringValue == "k1", "the store holds an envelope naming its key")
        let finished = try await harness.client.events(named: SystemEvent.functionFinished)
        #expect(finished.events.count == 1 && finished.unreadable.isEmpty)

        for suffix in ["", "-wal", "-shm"] {
            guard let bytes = FileManager.default.contents(atPath: path + suffix) else { continue }
            #expect(bytes.range(of: Data(marker.utf8)) == nil, "\(path + suffix) holds the user in plain text")
            #expect(bytes.range(of: Data("Alice".utf8)) == nil, "\(path + suffix) holds the user's name in plain text")
        }
    }

    @Test("a subscriber that arrives after a sealed batch is built, before its commit, still gets the users sent, and a second one sealed")
    func subscriberAfterBatchBuilt() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteStore(.init(path: directory.path("late.db")))
        let client = StepwiseClient(id: "app", store: store, configuration: .init(userEncryption: .encrypted(with: try Self.cipher("k1"))))
        let (marker, user) = Self.secretUser()
        let events = [Event(name: "app/signup", user: user), Event(name: "app/plain"), Event(name: "app/signup", user: ["email": "bob"])]
        // No subscriber yet: the batch defers pairing ciphertexts with the users sent.
        #expect(client.bus.subscriberCount == 0)
        let batch = try client.eventBatch(events, receivedAt: 1_000, allowReservedNames: false)
        #expect(batch.events.map { $0.user.flatMap(UserEncryption.keyID(of:)) } == ["k1", nil, "k1"], "the batch holds envelopes")
        let subscription = client.subscribe(to: .all)
        _ = try await store.append(batch)
        var delivered: [StoredEvent] = []
        for await event in subscription {
            delivered.append(event)
            if delivered.count == 3 { break }
        }
        #expect(delivered.map { $0.user?["email"]?.stringValue } == [marker, nil, "bob"], "the bus hands out the users sent")
    }

    @Test("every seal has a nonce of its own, and both ways of sealing open with the key")
    func noncesAreUnique() throws {
        let cipher = try AESGCMCipher(keys: [try .random(id: "k1")])
        let text = #"{"email":"ada@example.com"}"#
        var nonces = Set<[UInt8]>()
        for round in 0..<2_000 {
            let sealed = round % 2 == 0
                ? Array(try #require(Data(base64Encoded: try cipher.sealToBase64(text))))
                : try cipher.seal(Array(text.utf8))
            #expect(sealed.count == 12 + text.utf8.count + 16, "nonce, ciphertext and tag")
            nonces.insert(Array(sealed.prefix(12)))
            #expect(try cipher.open(sealed, keyID: "k1") == Array(text.utf8))
        }
        #expect(nonces.count == 2_000, "no nonce twice under one key")
    }

    @Test("a new first key encrypts new events at once; older keys still open older rows")
    func rotation() async throws {
        let store = try freshTestStore()
        let old = try AESGCMCipher.Key.random(id: "2026-06")
        let new = try AESGCMCipher.Key.random(id: "2026-12")
        let before = try makeClient(store: store, userEncryption: .encrypted(with: try AESGCMCipher(keys: [old])))
        let after = try makeClient(store: store, userEncryption: .encrypted(with: try AESGCMCipher(keys: [new, old])))
        let first = try await before.send(Event(name: "a", user: ["n": 1]))
        let second = try await after.send(Event(name: "a", user: ["n": 2]))
        #expect(try await store.event(id: first, environment: "default")?.user?["stepwise/encrypted"] == "2026-06")
        #expect(try await store.event(id: second, environment: "default")?.user?["stepwise/encrypted"] == "2026-12")
        #expect(try await after.event(id: first)?.user == ["n": 1])
        #expect(try await after.event(id: second)?.user == ["n": 2])
    }

    @Test("a row whose key is missing reads as an error naming the key id, in a look-up and in a listing")
    func missingKey() async throws {
        let store = try freshTestStore()
        let writer = try makeClient(store: store, userEncryption: .encrypted(with: try Self.cipher("gone")))
        let id = try await writer.send(Event(name: "a", user: ["n": 1]))
        try await writer.send(Event(name: "a", data: ["plain": true]))
        for reader in [
            try makeClient(store: store, userEncryption: .encrypted(with: try Self.cipher("other"))),
            try makeClient(store: store, userEncryption: .plaintext),
        ] {
            await #expect(throws: UserDecryptionError.missingKey(keyID: "gone")) { try await reader.event(id: id) }
            let page = try await reader.events(named: "a")
            #expect(page.events.count == 1, "the event without a user is still listed")
            #expect(page.unreadable.map(\.id) == [id.description])
            #expect(page.unreadable.first?.reason.contains("'gone'") == true)
        }
    }

    @Test("a different key under the same id is an error, never garbage")
    func wrongKey() async throws {
        let store = try freshTestStore()
        let writer = try makeClient(store: store, userEncryption: .encrypted(with: try Self.cipher("k1")))
        let id = try await writer.send(Event(name: "a", user: ["n": 1]))
        let reader = try makeClient(store: store, userEncryption: .encrypted(with: try Self.cipher("k1")))
        await #expect(throws: UserDecryptionError.cannotOpen(keyID: "k1")) { try await reader.event(id: id) }
    }

    @Test("a function whose event's key is missing fails its attempt with an error naming the key")
    func handlerWithoutKey() async throws {
        let store = try freshTestStore()
        let writer = try makeClient(store: store, userEncryption: .encrypted(with: try Self.cipher("gone")))
        let harness = try Harness(store: store, userEncryption: .encrypted(with: try Self.cipher("other")))
        try harness.client.createFunction(id: "f", trigger: .event("a"), options: .init(retries: RetryPolicy(retries: 0))) { event, _ in
            event.user ?? .null
        }
        try await harness.client.registerFunctions()
        try await writer.send(Event(name: "a", user: ["n": 1]))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "f")
        #expect(run.status == .failed)
        #expect(run.error?.message.contains("'gone'") == true, "\(String(describing: run.error))")
    }

    @Test("a client without keys refuses a user unless it asked for plain text")
    func explicitPlaintext() async throws {
        let store = try freshTestStore()
        let unconfigured = StepwiseClient(id: "app", store: store)
        await #expect(throws: EventValidationError(index: 1, field: .user, problem: .encryptionNotConfigured)) {
            try await unconfigured.send([Event(name: "a"), Event(name: "a", user: ["n": 1])])
        }
        #expect(try await unconfigured.send(Event(name: "a", data: ["no": "user"])).description.isEmpty == false)
        let plain = try makeClient(store: store, userEncryption: .plaintext)
        let id = try await plain.send(Event(name: "a", user: ["n": 1]))
        #expect(try await store.event(id: id, environment: "default")?.user == ["n": 1])
        await #expect(throws: EventValidationError(index: 0, field: .user, problem: .reservedMember("stepwise/encrypted"))) {
            try await plain.send(Event(name: "a", user: ["stepwise/encrypted": "k", "ciphertext": "AAAA"]))
        }
    }

    @Test("a retried request (the same id seed) with an encrypted user is stored once, not refused as a conflict")
    func seededRetry() async throws {
        let client = try makeClient(userEncryption: .encrypted(with: try Self.cipher("k1")))
        let seed = try #require(EventIDSeed("1743130137367,eii2YKXRVTJPuA=="))
        let events = [Event(name: "a", user: ["n": 1], ts: 1_700_000_000_000), Event(name: "b", ts: 1_700_000_000_000)]
        let first = try await client.send(events, environment: "default", idSeed: seed)
        let again = try await client.send(events, environment: "default", idSeed: seed)
        #expect(first == again)
        #expect(try await allEvents(client.store).count == 2)
        #expect(try await client.event(id: first[0])?.user == ["n": 1])
    }

    @Test("key lists from STEPWISE_ENCRYPTION_KEYS: the first seals, bad entries are named")
    func keyList() throws {
        let a = try AESGCMCipher.Key.random(id: "a")
        let b = try AESGCMCipher.Key.random(id: "b")
        let cipher = try AESGCMCipher(configuration: "a:\(a.base64), b:\(b.base64)")
        #expect(cipher.sealingKeyID == "a" && cipher.holdsKey("b"))
        #expect(throws: EncryptionKeyError.wrongLength(keyID: "short", bytes: 3)) { try AESGCMCipher(configuration: "short:AAAA") }
        #expect(throws: EncryptionKeyError.malformedEntry(index: 1)) { try AESGCMCipher(configuration: "a:\(a.base64),nocolon") }
        #expect(throws: EncryptionKeyError.duplicateID("a")) { try AESGCMCipher(configuration: "a:\(a.base64),a:\(b.base64)") }
        #expect(throws: EncryptionKeyError.notBase64(keyID: "a")) { try AESGCMCipher(configuration: "a:???") }
    }

    @Test("re-encryption rewrites rows sealed with an older key, so the old key can go; rows of a missing key are left and counted")
    func reencryption() async throws {
        let store = try freshTestStore()
        let old = try AESGCMCipher.Key.random(id: "old")
        let new = try AESGCMCipher.Key.random(id: "new")
        let before = try makeClient(store: store, userEncryption: .encrypted(with: try AESGCMCipher(keys: [old])))
        var ids: [EventID] = []
        for n in 0..<7 { ids.append(try await before.send(Event(name: "a", user: ["n": .int(Int64(n))]))) }
        try await before.send(Event(name: "a", data: ["no": "user"]))
        let lost = try await makeClient(store: store, userEncryption: .encrypted(with: try Self.cipher("lost"))).send(Event(name: "a", user: ["n": 99]))
        let rotating = try makeClient(store: store, userEncryption: .encrypted(with: try AESGCMCipher(keys: [new, old])))
        let newer = try await rotating.send(Event(name: "a", user: ["n": 100]))
        let report = try await rotating.reencryptUsers(batchSize: 3)
        #expect(report.rewritten == 7 && report.current == 1 && report.missingKeys == ["lost": 1], "\(report)")
        let after = try makeClient(store: store, userEncryption: .encrypted(with: try AESGCMCipher(keys: [new])))
        for (n, id) in ids.enumerated() {
            #expect(try await after.event(id: id)?.user == ["n": .int(Int64(n))], "readable with the new key alone")
            #expect(try await store.event(id: id, environment: "default")?.user?["stepwise/encrypted"] == "new")
        }
        #expect(try await after.event(id: newer)?.user == ["n": 100])
        await #expect(throws: UserDecryptionError.missingKey(keyID: "lost")) { try await after.event(id: lost) }
        #expect(try await rotating.reencryptUsers().rewritten == 0, "a second pass finds nothing to do")
        await #expect(throws: ReencryptionError.noCipher) { try await makeClient(store: store).reencryptUsers() }
    }
}
