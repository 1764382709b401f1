/// The flow-control keys of one run, worked out once, when its event was accepted, from the
/// function's options and that event: the store keeps them with the run, so that claims count
/// and order by them, and a run already queued keeps the keys it was given when its function
/// is registered again with other ones.
public struct RunFlow: Sendable, Hashable {
    /// One concurrency limit the run counts towards.
    public struct Concurrency: Sendable, Hashable {
        /// The key's identity in the store: its scope, the function (for the function scope)
        /// or environment it counts in, and the key's value. Runs with equal identities share
        /// a count.
        public let identity: String
        /// The key's value as the expression gave it, for people; empty with no key.
        public let value: String
        public let scope: ConcurrencyScope
        public let limit: Int

        public init(identity: String, value: String, scope: ConcurrencyScope, limit: Int) {
            self.identity = identity
            self.value = value
            self.scope = scope
            self.limit = limit
        }

        /// How many of the key's queued runs may be due at once. The others wait parked, in
        /// their order, and each time one of the due is claimed or a run with the key leaves
        /// `running`, the next is let go, due behind the runs already due. So a key's backlog
        /// never fills the due index, and when the worker's capacity binds before the key's
        /// limit, keys take turns (round-robin, `turn` runs at a time) instead of the oldest
        /// backlog taking every claim.
        public var turn: Int { max(1, min(limit, Self.maximumTurn)) }

        /// The most runs of one key that are due at once: the grain of the round-robin. Lower
        /// is fairer; higher costs a busy key's claims fewer trips to let the next ones go.
        public static let maximumTurn = 10
    }

    /// The throttle the run's start was spaced by.
    public struct Throttled: Sendable, Hashable {
        /// The key's identity in the store (the function and the key's value).
        public let identity: String
        public let value: String
        public let limit: Int
        public let periodMilliseconds: Int64
        public let burst: Int
        /// The function's `timeouts.start`: a run that could not start within it reserves no
        /// start (``ThrottleSchedule/place(_:tat:)``).
        public let startTimeoutMilliseconds: Int64?

        public init(identity: String, value: String, limit: Int, periodMilliseconds: Int64, burst: Int, startTimeoutMilliseconds: Int64? = nil) {
            self.identity = identity
            self.value = value
            self.limit = limit
            self.periodMilliseconds = periodMilliseconds
            self.burst = burst
            self.startTimeoutMilliseconds = startTimeoutMilliseconds
        }
    }

    /// The rate limit (or idempotency, a limit of one per 24 hours) the event was admitted
    /// under: the store counts the function's runs created with the same key in the window.
    public struct Limited: Sendable, Hashable {
        /// The key's value; runs of one function with equal keys share the window.
        public let key: String
        public let limit: Int
        public let periodMilliseconds: Int64
        /// Whether this is the function's idempotency key rather than its rate limit, which
        /// is what an event turned away is recorded as.
        public let isIdempotency: Bool

        public init(key: String, limit: Int, periodMilliseconds: Int64, isIdempotency: Bool) {
            self.key = key
            self.limit = limit
            self.periodMilliseconds = periodMilliseconds
            self.isIdempotency = isIdempotency
        }

        /// What an event turned away by this limit is recorded as.
        public var reason: AdmissionReason { isIdempotency ? .idempotent : .rateLimited }
    }

    /// How a debounced run is held back: by key, until `period` after the latest event, or
    /// `timeout` after the first.
    public struct Debounced: Sendable, Hashable {
        public let key: String
        public let periodMilliseconds: Int64
        public let timeoutMilliseconds: Int64?
        /// The `ts` of the event the run holds: a later event replaces it only if its own
        /// `ts` is no earlier.
        public let eventTimestamp: Int64

        public init(key: String, periodMilliseconds: Int64, timeoutMilliseconds: Int64?, eventTimestamp: Int64) {
            self.key = key
            self.periodMilliseconds = periodMilliseconds
            self.timeoutMilliseconds = timeoutMilliseconds
            self.eventTimestamp = eventTimestamp
        }

        /// When a run first debounced at `firstAt` fires after an event accepted at `now`.
        public func fireAt(firstAt: Int64, now: Int64) -> Int64 {
            min(now + periodMilliseconds, timeoutMilliseconds.map { firstAt + $0 } ?? Int64.max)
        }
    }

    /// How a batch's run gathers events: by key, up to `maxSize`, for `timeout` after the
    /// first.
    public struct Batched: Sendable, Hashable {
        public let key: String
        public let maxSize: Int
        public let timeoutMilliseconds: Int64

        public init(key: String, maxSize: Int, timeoutMilliseconds: Int64) {
            self.key = key
            self.maxSize = maxSize
            self.timeoutMilliseconds = timeoutMilliseconds
        }
    }

    /// The one active run a key may have.
    public struct Singled: Sendable, Hashable {
        public let key: String
        public let mode: Singleton.Mode

        public init(key: String, mode: Singleton.Mode) {
            self.key = key
            self.mode = mode
        }
    }

    /// Up to two limits; a run executes only while each has room.
    public var concurrency: [Concurrency]
    /// Checked by the store as it inserts the run, like the rate limit: fan-out's only.
    public var debounce: Debounced?
    public var batch: Batched?
    public var singleton: Singled?
    public var throttle: Throttled?
    /// Checked by the store when it inserts the run; `nil` for a run that no rate limit
    /// applies to (a key that gave `false`, a rerun, an invoked or scheduled run).
    public var rateLimit: Limited?
    /// Seconds by which the run goes ahead of the function's other runs waiting for a slot.
    public var prioritySeconds: Int64
    /// What went wrong working the keys out (a priority that was not an integer), for the
    /// run's record; the run went on with a default.
    public var notes: [String]

    public init(
        concurrency: [Concurrency] = [], throttle: Throttled? = nil, rateLimit: Limited? = nil, prioritySeconds: Int64 = 0, notes: [String] = [],
        debounce: Debounced? = nil, batch: Batched? = nil, singleton: Singled? = nil
    ) {
        self.debounce = debounce
        self.batch = batch
        self.singleton = singleton
        self.concurrency = concurrency
        self.throttle = throttle
        self.rateLimit = rateLimit
        self.prioritySeconds = prioritySeconds
        self.notes = notes
    }

    /// No key at all: the run is claimed as soon as it is due, as every run was before flow
    /// control.
    public var isEmpty: Bool {
        concurrency.isEmpty && throttle == nil && rateLimit == nil && prioritySeconds == 0 && notes.isEmpty && debounce == nil && batch == nil
            && singleton == nil
    }

    /// The priority in milliseconds, the unit a store orders by.
    public var priorityMilliseconds: Int64 { prioritySeconds * 1000 }

    /// The concurrency key at `index` (0 or 1), for a store's two key columns.
    public func concurrencyKey(_ index: Int) -> Concurrency? {
        index < concurrency.count ? concurrency[index] : nil
    }
}

// MARK: - As a store keeps it

extension RunFlow {
    /// The flow as one JSON value, for a store's `flow` column; `nil` when empty, so runs
    /// without flow control store nothing more than before.
    public var json: JSON? {
        if isEmpty { return nil }
        var members: JSON.Object = [:]
        if !concurrency.isEmpty {
            members["concurrency"] = .array(concurrency.map { key in
                .object(["identity": .string(key.identity), "value": .string(key.value), "scope": .string(key.scope.rawValue),
                         "limit": .int(Int64(key.limit))])
            })
        }
        if let throttle {
            members["throttle"] = .object([
                "identity": .string(throttle.identity), "value": .string(throttle.value), "limit": .int(Int64(throttle.limit)),
                "period_ms": .int(throttle.periodMilliseconds), "burst": .int(Int64(throttle.burst)),
                "start_timeout_ms": throttle.startTimeoutMilliseconds.map(JSON.int) ?? .null,
            ])
        }
        if let rateLimit {
            members["rate_limit"] = .object([
                "key": .string(rateLimit.key), "limit": .int(Int64(rateLimit.limit)), "period_ms": .int(rateLimit.periodMilliseconds),
                "idempotency": .bool(rateLimit.isIdempotency),
            ])
        }
        if prioritySeconds != 0 { members["priority_s"] = .int(prioritySeconds) }
        if !notes.isEmpty { members["notes"] = .array(notes.map { .string($0) }) }
        if let debounce {
            var object: JSON.Object = [
                "key": .string(debounce.key), "period_ms": .int(debounce.periodMilliseconds), "event_ts": .int(debounce.eventTimestamp),
            ]
            if let timeout = debounce.timeoutMilliseconds { object["timeout_ms"] = .int(timeout) }
            members["debounce"] = .object(object)
        }
        if let batch {
            members["batch"] = .object([
                "key": .string(batch.key), "max_size": .int(Int64(batch.maxSize)), "timeout_ms": .int(batch.timeoutMilliseconds),
            ])
        }
        if let singleton { members["singleton"] = .object(["key": .string(singleton.key), "mode": .string(singleton.mode.rawValue)]) }
        return .object(members)
    }

    /// The flow a store kept as ``json``; parts that do not read are left out, as for
    /// ``FunctionSettings``: Stepwise wrote them, and a newer version may add parts.
    public init(json: JSON?) {
        guard let json else {
            self.init()
            return
        }
        let concurrency: [Concurrency] = json["concurrency"]?.arrayValue?.compactMap { key in
            guard let identity = key["identity"]?.stringValue, let limit = key["limit"]?.intValue, limit > 0 else { return nil }
            return Concurrency(
                identity: identity, value: key["value"]?.stringValue ?? "",
                scope: key["scope"]?.stringValue.flatMap(ConcurrencyScope.init(rawValue:)) ?? .function, limit: Int(limit))
        } ?? []
        var throttle: Throttled?
        if let object = json["throttle"], let identity = object["identity"]?.stringValue, let limit = object["limit"]?.intValue,
           let period = object["period_ms"]?.intValue
        {
            throttle = Throttled(
                identity: identity, value: object["value"]?.stringValue ?? "", limit: Int(limit), periodMilliseconds: period,
                burst: Int(object["burst"]?.intValue ?? 0), startTimeoutMilliseconds: object["start_timeout_ms"]?.intValue)
        }
        var rateLimit: Limited?
        if let object = json["rate_limit"], let key = object["key"]?.stringValue, let limit = object["limit"]?.intValue,
           let period = object["period_ms"]?.intValue
        {
            rateLimit = Limited(key: key, limit: Int(limit), periodMilliseconds: period, isIdempotency: object["idempotency"]?.boolValue ?? false)
        }
        var debounce: Debounced?
        if let object = json["debounce"], let key = object["key"]?.stringValue, let period = object["period_ms"]?.intValue {
            debounce = Debounced(
                key: key, periodMilliseconds: period, timeoutMilliseconds: object["timeout_ms"]?.intValue,
                eventTimestamp: object["event_ts"]?.intValue ?? 0)
        }
        var batch: Batched?
        if let object = json["batch"], let key = object["key"]?.stringValue, let size = object["max_size"]?.intValue,
           let timeout = object["timeout_ms"]?.intValue
        {
            batch = Batched(key: key, maxSize: Int(size), timeoutMilliseconds: timeout)
        }
        var singleton: Singled?
        if let object = json["singleton"], let key = object["key"]?.stringValue,
           let mode = object["mode"]?.stringValue.flatMap(Singleton.Mode.init(rawValue:))
        {
            singleton = Singled(key: key, mode: mode)
        }
        self.init(
            concurrency: concurrency, throttle: throttle, rateLimit: rateLimit, prioritySeconds: json["priority_s"]?.intValue ?? 0,
            notes: json["notes"]?.arrayValue?.compactMap(\.stringValue) ?? [], debounce: debounce, batch: batch, singleton: singleton)
    }
}
