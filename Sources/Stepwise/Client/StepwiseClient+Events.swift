#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import Tracing

extension StepwiseClient {
    /// Sends one event: validates it, stores it durably, and publishes it on the bus.
    ///
    /// - Returns: the event's id; for an event whose dedupe `id` was seen within the dedupe
    ///   window, the id of the event first accepted with it.
    /// - Throws: ``EventValidationError`` for an invalid event (nothing is stored), or the
    ///   store's error when it cannot commit.
    @discardableResult
    public func send(_ event: Event) async throws -> EventID {
        let ids = try await send([event])
        return ids[0]
    }

    /// Sends a batch of events, atomically: all of them are stored, or, when one is invalid
    /// or the store fails, none.
    ///
    /// - Returns: one id per event, in the order given (see ``send(_:)-(Event)``).
    /// - Throws: ``EventValidationError`` naming the first invalid event and field.
    @discardableResult
    public func send(_ events: [Event]) async throws -> [EventID] {
        try await append(events, allowReservedNames: false)
    }

    /// Sends a batch to another environment than the client's (a branch environment, as the
    /// Event API's `x-inngest-env` header chooses), with ids derived from `idSeed` when given,
    /// so that a retried request is stored once and answered with the same ids.
    ///
    /// - Throws: ``EnvironmentNameError`` for a name that breaks ``EnvironmentName``'s rules,
    ///   ``EventValidationError``, or ``EventIDSeedConflict`` when the seed's ids belong to
    ///   events of another environment; nothing is stored.
    @discardableResult
    public func send(_ events: [Event], environment: String, idSeed: EventIDSeed? = nil) async throws -> [EventID] {
        try await append(events, allowReservedNames: false, environment: environment, idSeed: idSeed)
    }

    /// Validates and appends a batch; reserved names are allowed only for system events.
    func append(
        _ events: [Event], allowReservedNames: Bool, environment: String? = nil, idSeed: EventIDSeed? = nil
    ) async throws -> [EventID] {
        guard !events.isEmpty else { return [] }
        // One PRODUCER span per send, as OpenTelemetry's messaging conventions have it; its
        // context is stored with the events, so that the runs they trigger continue this trace.
        return try await withSpan(Self.sendSpanName(events), context: currentTraceParent, ofKind: .producer) { span in
            if span.isRecording { span.updateAttributes { Self.describeSend(events, in: &$0) } }
            let start = ContinuousClock.now
            let outcomes = try await appendTraced(
                events, allowReservedNames: allowReservedNames, environment: environment, idSeed: idSeed,
                traceContext: TraceContext.injected(from: span.context, by: tracer))
            metrics.sendDuration.recordNanoseconds(nanoseconds(since: start))
            return outcomes
        }
    }

    /// `send {event name}` for a batch of one name, `send` for a mixed one: span names carry
    /// no ids (OpenTelemetry's naming guidance), and an event name is a bounded set.
    static func sendSpanName(_ events: [Event]) -> String {
        guard let name = events.first?.name, events.allSatisfy({ $0.name == name }) else { return "send" }
        return "send \(name)"
    }

    /// The messaging attributes of a send's span.
    static func describeSend(_ events: [Event], in attributes: inout SpanAttributes) {
        attributes["messaging.system"] = "stepwise"
        attributes["messaging.operation.type"] = "send"
        if let name = events.first?.name, events.allSatisfy({ $0.name == name }) {
            attributes["messaging.destination.name"] = name
        }
        if events.count > 1 { attributes["messaging.batch.message_count"] = events.count }
    }

    /// ``append(_:allowReservedNames:environment:idSeed:)`` inside its span.
    private func appendTraced(
        _ events: [Event], allowReservedNames: Bool, environment: String?, idSeed: EventIDSeed?, traceContext: TraceContext?
    ) async throws -> [EventID] {
        let environment = environment ?? configuration.environment
        // Checked here, where every send passes, so that no name the gate would refuse (or a
        // configuration typed with a control character) ends up in the store.
        try EnvironmentName.validate(environment)
        // A retried request's events keep the envelopes they were first stored with.
        var stored: [Int: StoredEvent] = [:]
        if let idSeed, configuration.userEncryption.cipher != nil {
            for (index, event) in events.enumerated() where event.user != nil {
                stored[index] = try await store.event(id: idSeed.eventID(at: index), environment: environment)
            }
        }
        let batch = try eventBatch(
            events, receivedAt: configuration.clock.now(), allowReservedNames: allowReservedNames,
            environment: environment, idSeed: idSeed, stored: stored, traceContext: traceContext)
        // Functions this process defined must be in the store before the events that
        // trigger them are, or those events would create no runs.
        if EnvironmentName.same(environment, configuration.environment) {
            try await registerFunctions(completeSet: false)
        }
        let outcomes = try await appendClaimingForWorker(batch)
        let duplicates = outcomes.count { if case .duplicate = $0 { true } else { false } }
        metrics.countSent(accepted: outcomes.count - duplicates, duplicates: duplicates)
        if duplicates > 0 {
            logger.debug("dropped duplicate events", metadata: ["count": "\(duplicates)"])
        }
        return outcomes.map(\.eventID)
    }

    /// Appends `batch`, claiming the runs it starts for this process's worker in the same
    /// transaction when the worker has free slots and the store can (``SendClaimer``).
    private func appendClaimingForWorker(_ batch: EventBatch) async throws -> [EventAppendOutcome] {
        guard EnvironmentName.same(batch.environment, configuration.environment),
              let store = store as? any StoreClaimingWrites, let claimer = sendClaimers.current
        else { return try await store.append(batch) }
        let wanted = registry.runsPossiblyStarted(byEventsNamed: batch.events.lazy.map(\.name), limit: claimer.concurrency)
        guard wanted > 0, let request = claimer.reserve(wanted) else { return try await store.append(batch) }
        do {
            return try await store.append(batch, thenClaim: request, handOver: { claimer.handOver($0, request) })
        } catch {
            claimer.cancel(request)
            throw error
        }
    }

    /// Validates `events` into a batch for the store, published on the bus once committed.
    ///
    /// - Throws: ``EventValidationError``.
    ///
    /// - Parameters:
    ///   - userPayloads: whether the events' payloads are users' even though their names are
    ///     reserved (`function.invoked`'s data): held to the depth users' payloads are.
    ///   - limits: the size limits, when not those the names imply (none for system events,
    ///     the configured ones otherwise): an invoke from outside a run holds its data to the
    ///     configured ones.
    func eventBatch(
        _ events: [Event], receivedAt: Int64, allowReservedNames: Bool, environment: String? = nil, idSeed: EventIDSeed? = nil,
        userPayloads: Bool = false, limits chosen: EventLimits? = nil, stored: [Int: StoredEvent] = [:],
        traceContext: TraceContext? = nil
    ) throws(EventValidationError) -> EventBatch {
        let limits = chosen ?? (allowReservedNames ? EventLimits(maxEventBytes: .max, maxBatchBytes: .max, maxBatchCount: .max) : configuration.limits)
        let validator = EventValidator(
            limits: limits, allowReservedNames: allowReservedNames,
            maxNestingDepth: allowReservedNames && !userPayloads ? JSON.maximumSystemEventNestingDepth : JSON.maximumPayloadNestingDepth,
            dates: configuration.dateEncoding)
        let validated = try validator.validate(events, receivedAt: receivedAt)
        var prepared = try configuration.userEncryption.seal(validated, stored: stored)
        if let traceContext {
            prepared = prepared.map { $0.with(traceContext: traceContext) }
        }
        let bus = self.bus
        let metrics = self.metrics
        // Subscribers get the `user` that was sent, which this process holds already: found by
        // its ciphertext (unique, by its nonce) rather than decrypted again, and only when the
        // bus has anyone to hand it to. Paired up here, on the sender's task, when the bus has
        // subscribers already (a listener in this process), to keep the work off the writer's
        // thread, where the publish runs; otherwise only if one subscribes before the commit,
        // so that a process that only ingests pays nothing for it.
        let publish: @Sendable ([StoredEvent]) -> Void
        if configuration.userEncryption.cipher == nil || !validated.contains(where: { $0.user != nil }) {
            publish = { metrics.countRunEnds(in: $0); bus.publish($0) }
        } else if bus.subscriberCount > 0 {
            let plaintexts = Self.sentUsers(validated, sealed: prepared)
            publish = { stored in
                metrics.countRunEnds(in: stored)
                guard bus.subscriberCount > 0 else { return bus.notifyObservers(of: stored) }
                bus.publish(Self.withSentUsers(stored, plaintexts))
            }
        } else {
            let sentEvents = validated
            let sealedEvents = prepared
            publish = { stored in
                metrics.countRunEnds(in: stored)
                guard bus.subscriberCount > 0 else { return bus.notifyObservers(of: stored) }
                bus.publish(Self.withSentUsers(stored, Self.sentUsers(sentEvents, sealed: sealedEvents)))
            }
        }
        return EventBatch(
            environment: environment ?? configuration.environment,
            events: prepared,
            receivedAt: receivedAt,
            dedupeWindow: configuration.dedupeWindow.milliseconds,
            idSeed: idSeed,
            afterCommit: publish
        )
    }

    /// Each sealed `user`'s ciphertext beside the `user` that was sent, in the batch's order.
    static func sentUsers(_ sent: [NewEvent], sealed: [NewEvent]) -> [(ciphertext: String, user: JSON)] {
        var users: [(ciphertext: String, user: JSON)] = []
        for (event, sealed) in zip(sent, sealed) {
            if let user = event.user, let ciphertext = sealed.user?["ciphertext"]?.stringValue, sealed.userText != event.userText {
                users.append((ciphertext, user))
            }
        }
        return users
    }

    /// `stored` with each sealed `user` replaced by the one sent. The stored events are the
    /// batch's in its order, less duplicates, so a walk along `sent` finds each in one pass;
    /// one not found where the walk is (never expected) is looked for in the whole list.
    static func withSentUsers(_ stored: [StoredEvent], _ sent: [(ciphertext: String, user: JSON)]) -> [StoredEvent] {
        var next = sent.startIndex
        return stored.map { event in
            guard let ciphertext = event.user?["ciphertext"]?.stringValue else { return event }
            let found: Int?
            if let index = sent[next...].firstIndex(where: { $0.ciphertext == ciphertext }) {
                found = index
                next = index + 1
            } else {
                found = sent.firstIndex { $0.ciphertext == ciphertext }
            }
            guard let found else { return event }
            return StoredEvent(
                id: event.id, environment: event.environment, name: event.name, data: event.data, user: sent[found].user,
                dedupeID: event.dedupeID, ts: event.ts, v: event.v, receivedAt: event.receivedAt,
                traceContext: event.traceContext)
        }
    }

    /// A batch of system events built by ``SystemEvent``'s builders, valid by construction,
    /// published on the bus once committed.
    ///
    /// The events are in the current trace (a run's, when a run ends), and the runs they
    /// end are counted once committed (``StepwiseMetrics/countRunEnds(in:)``).
    func systemEventBatch(_ events: [NewEvent], at receivedAt: Int64) -> EventBatch {
        let bus = self.bus
        let metrics = self.metrics
        let traceContext = TraceContext.injected(from: ServiceContext.current, by: tracer)
        return EventBatch(
            environment: configuration.environment, events: traceContext.map { context in events.map { $0.with(traceContext: context) } } ?? events,
            receivedAt: receivedAt, dedupeWindow: 0,
            afterCommit: { metrics.countRunEnds(in: $0); bus.publish($0) })
    }

    /// The event with this id in the client's environment, or `nil`.
    ///
    /// - Throws: ``UserDecryptionError`` naming the key when its `user` cannot be decrypted.
    public func event(id: EventID) async throws -> StoredEvent? {
        guard let event = try await store.event(id: id, environment: configuration.environment) else { return nil }
        return try configuration.userEncryption.open(event)
    }

    /// Why the event `eventID` started no run of functions its name triggers: a trigger's
    /// `if` that did not hold, a rate limit or idempotency key that turned it away, an
    /// expression that failed. Empty when it started a run of each.
    public func admissions(of eventID: EventID) async throws -> [AdmissionRecord] {
        try await store.admissions(eventID: eventID, environment: configuration.environment)
    }

    /// A page of the client's environment's events, newest first, by name and receive time.
    ///
    /// - Throws: ``EventQueryError`` for a limit out of range or an empty time range.
    public func events(named name: String? = nil, since: Date? = nil, until: Date? = nil, limit: Int = 50, cursor: EventCursor? = nil) async throws -> EventPage {
        try await events(
            named: name, sinceMilliseconds: since?.millisecondsSinceEpoch, untilMilliseconds: until?.millisecondsSinceEpoch,
            limit: limit, cursor: cursor)
    }

    /// As ``events(named:since:until:limit:cursor:)``, with the bounds in milliseconds since the
    /// epoch, as the REST API and the CLI take them from the wire.
    package func events(
        named name: String?, sinceMilliseconds since: Int64?, untilMilliseconds until: Int64?, limit: Int, cursor: EventCursor?
    ) async throws -> EventPage {
        let page = try await store.events(EventQuery(
            environment: configuration.environment, name: name, since: since, until: until, limit: limit, cursor: cursor))
        return openingUsers(page)
    }

    /// `page` with its events' `user` decrypted; an event whose `user` cannot be is listed as
    /// unreadable, with the key it needs, and the others are kept (DESIGN.md, invariant 7).
    func openingUsers(_ page: EventPage) -> EventPage {
        var events: [StoredEvent] = []
        events.reserveCapacity(page.events.count)
        var unreadable = page.unreadable
        for event in page.events {
            do {
                events.append(try configuration.userEncryption.open(event))
            } catch {
                unreadable.append(UnreadableRecord(kind: "event", id: event.id.description, reason: error.description))
            }
        }
        return EventPage(events: events, nextCursor: page.nextCursor, unreadable: unreadable)
    }

    /// Subscribes to the events this client stores whose names match `pattern`.
    /// See ``EventBus`` for the buffering policy.
    public func subscribe(to pattern: EventPattern = .all, bufferSize: Int = EventBus.defaultBufferSize) -> EventSubscription {
        bus.subscribe(to: pattern, in: configuration.environment, bufferSize: bufferSize)
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let parts = components
        return parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000
    }
}
