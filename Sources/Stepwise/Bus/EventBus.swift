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

    /// Hands `events` to every matching subscriber, in order, without waiting.
    func publish(_ events: [StoredEvent]) {
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
