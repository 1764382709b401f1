import Synchronization

/// Publishes the events a client stores to subscribers in the same process.
///
/// Events are published after the transaction that stored them has committed (a subscriber
/// never sees an event that could still vanish), in the order they were committed.
///
/// Publishing never waits for a subscriber: each has a bounded buffer, and when a slow
/// subscriber's buffer is full the *oldest* event in it is dropped to make room, and counted
/// in ``EventSubscription/droppedCount``. The store is the record; the bus is a
/// notification, and a subscriber that fell behind can read what it missed from the store.
public final class EventBus: Sendable {
    private struct Subscriber: Sendable {
        let pattern: EventPattern
        let environment: String?
        let continuation: AsyncStream<StoredEvent>.Continuation
        let dropped: EventSubscription.DropCounter
    }

    private let subscribers = Mutex<[Int: Subscriber]>([:])
    private let nextID = Atomic<Int>(0)
    /// Called on the publishing thread with each committed batch: for the engine's own
    /// wake-ups, which need no task of their own between a commit and the waiting loop.
    private let observers = Mutex<[Int: Observer]>([:])

    /// A synchronous observer of committed events in one environment.
    struct Observer: Sendable {
        let environment: String
        let observe: @Sendable ([StoredEvent]) -> Void
    }

    public init() {}

    /// The default number of events a subscriber's buffer holds.
    public static let defaultBufferSize = 1024

    /// Subscribes to the events whose names match `pattern`, in `environment` (every
    /// environment when `nil`). The subscription ends when the sequence is dropped or the
    /// task iterating it is cancelled.
    public func subscribe(
        to pattern: EventPattern = .all,
        in environment: String? = nil,
        bufferSize: Int = EventBus.defaultBufferSize
    ) -> EventSubscription {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let (stream, continuation) = AsyncStream.makeStream(
            of: StoredEvent.self, bufferingPolicy: .bufferingNewest(max(1, bufferSize)))
        let dropped = EventSubscription.DropCounter()
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { _ = $0.removeValue(forKey: id) }
        }
        subscribers.withLock {
            $0[id] = Subscriber(pattern: pattern, environment: environment, continuation: continuation, dropped: dropped)
        }
        return EventSubscription(stream: stream, dropCounter: dropped)
    }

    /// How many subscriptions are live.
    public var subscriberCount: Int {
        subscribers.withLock { $0.count }
    }

    /// Calls `observe` with every batch of events committed in `environment`, on the thread
    /// that publishes them (the store's writer, right after its commit), until
    /// ``removeObserver(_:)``. It must not block: it runs before the writer's next transaction.
    ///
    /// A subscription would hand each event to a stream, whose reader task is then scheduled
    /// and can only then act on it: for the worker's wake-up after a commit, that task is a
    /// thread hand-off on the way from a `send` to its run (issue 15). Observers do not count
    /// in ``subscriberCount``, which says whether anyone wants the events themselves.
    func observe(environment: String, _ observe: @escaping @Sendable ([StoredEvent]) -> Void) -> Int {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        observers.withLock { $0[id] = Observer(environment: environment, observe: observe) }
        return id
    }

    /// Stops the observer ``observe(environment:_:)`` returned `id` for.
    func removeObserver(_ id: Int) {
        observers.withLock { _ = $0.removeValue(forKey: id) }
    }

    /// Hands `events` to every observer, then to every matching subscriber, in order, without
    /// waiting.
    func publish(_ events: [StoredEvent]) {
        notifyObservers(of: events)
        let current = subscribers.withLock { Array($0.values) }
        guard !current.isEmpty else { return }
        for event in events {
            for subscriber in current
            where subscriber.pattern.matches(event.name)
                && (subscriber.environment.map { EnvironmentName.same($0, event.environment) } ?? true)
            {
                if case .dropped = subscriber.continuation.yield(event) {
                    subscriber.dropped.increment()
                }
            }
        }
    }
}

extension EventBus {
    /// Calls the observers of the environments `events` are in.
    func notifyObservers(of events: [StoredEvent]) {
        guard let environment = events.first?.environment else { return }
        let current = observers.withLock { Array($0.values) }
        guard !current.isEmpty else { return }
        // A batch is committed in one environment; a mixed one (never built) is split.
        if events.allSatisfy({ $0.environment == environment }) {
            for observer in current where EnvironmentName.same(observer.environment, environment) { observer.observe(events) }
        } else {
            for observer in current {
                let mine = events.filter { EnvironmentName.same(observer.environment, $0.environment) }
                if !mine.isEmpty { observer.observe(mine) }
            }
        }
    }
}

/// The events of one subscription, as an `AsyncSequence`.
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = StoredEvent

    final class DropCounter: Sendable {
        private let count = Atomic<Int>(0)
        func increment() { count.wrappingAdd(1, ordering: .relaxed) }
        var value: Int { count.load(ordering: .relaxed) }
    }

    let stream: AsyncStream<StoredEvent>
    let dropCounter: DropCounter

    /// How many events were dropped because this subscriber's buffer was full.
    public var droppedCount: Int { dropCounter.value }

    public func makeAsyncIterator() -> AsyncStream<StoredEvent>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}
