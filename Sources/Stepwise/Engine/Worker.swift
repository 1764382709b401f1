#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
public import ServiceLifecycle
import Synchronization

/// Runs a client's functions: claims due runs from the store with a lease, replays them,
/// and commits their steps. A swift-service-lifecycle `Service`:
///
/// ```swift
/// try await ServiceGroup(services: [stepwise.worker()], gracefulShutdownSignals: [.sigterm, .sigint],
///                        logger: logger).run()
/// ```
///
/// Any number of workers, in one process or many, may serve one store: a run is executed by
/// one worker at a time (the one holding its lease), and a worker that loses a lease (it
/// stalled past it, and another worker took the run over) can commit nothing more for it.
///
/// On graceful shutdown the worker stops claiming, lets running runs go on for up to
/// ``Configuration/shutdownGracePeriod``, then cancels the rest and gives them back to the
/// store, to be claimed at once by another worker or the next start.
public final class Worker: Service, Sendable {
    public struct Configuration: Sendable {
        /// How many runs execute at once.
        public var concurrency: Int
        /// How long a claim holds a run without renewal; a crashed worker's runs are taken
        /// over once their leases run out. Leases are renewed every third of it.
        public var leaseDuration: Duration
        /// How often to look for due runs when nothing wakes the worker: events sent by other
        /// processes on the store are found this way, unless the store has a change feed
        /// (``StoreChangeFeed``), which wakes the worker at once.
        public var pollInterval: Duration
        /// How long running runs may go on after shutdown begins.
        public var shutdownGracePeriod: Duration
        /// How often the age of the oldest due run (`stepwise.runs.due.age`) is read from the
        /// store: a sampled gauge, one cheap read each time, not a cost on every claim. Not
        /// read at all when the client's metrics go to the no-op factory.
        public var dueAgeSampleInterval: Duration

        public init(
            concurrency: Int = 16, leaseDuration: Duration = .seconds(30), pollInterval: Duration = .milliseconds(500),
            shutdownGracePeriod: Duration = .seconds(10), dueAgeSampleInterval: Duration = .seconds(10)
        ) {
            self.concurrency = max(1, concurrency)
            self.leaseDuration = leaseDuration
            self.pollInterval = pollInterval
            self.shutdownGracePeriod = shutdownGracePeriod
            self.dueAgeSampleInterval = dueAgeSampleInterval
        }
    }

    public let client: StepwiseClient
    public let configuration: Configuration
    /// Names this worker in the leases it holds.
    public let id: String
    private let logger: Logger
    private let executor: RunExecutor
    /// The leases of the runs executing now, renewed while they run.
    private let inFlight = Mutex<[RunID: RunLease]>([:])
    /// How many slots are taken: a slot holds a task that runs one run after another.
    private let busySlots = Atomic<Int>(0)
    private let doorbell = Doorbell()
    private let stopping = Atomic<Bool>(false)
    /// Events of a write that claimed for this worker (a send, or a slot's checkpoint) with
    /// room to spare, so with nothing due left over: the wake-up their publication would ring
    /// is not needed. Each is removed when published, which follows at once, on the same
    /// thread (``cover(_:request:)``).
    private let covered = Mutex<Set<EventID>>([])
    /// The slots' tasks wait here for their next run.
    private let slots = SlotQueue()
    /// Whether the claim loop last found every slot taken, and so waits for one to be freed.
    private let lookedWhileFull = Atomic<Bool>(false)

    init(client: StepwiseClient, configuration: Configuration, logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.id = "worker-\(ProcessInfo.processInfo.processIdentifier)-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        var logger = logger
        logger[metadataKey: "stepwise.worker"] = "\(id)"
        self.logger = logger
        self.executor = RunExecutor(client: client, logger: logger)
    }

    public func run() async throws {
        // A store with a lifecycle may be starting beside this worker, in the same group.
        if let store = client.store as? any StoreLifecycle {
            try await store.waitUntilReady()
        }
        try await client.registerFunctions(completeSet: true)
        logger.info("worker started", metadata: [
            "functions": "\(client.registry.ids.joined(separator: ","))", "concurrency": "\(configuration.concurrency)",
        ])
        // Every event stored through this client may have created runs: wake at once, from
        // the commit itself (an observer, not a subscription: no task between the two).
        let wakeUps = client.bus.observe(environment: client.configuration.environment) { events in
            if self.uncovers(events) { self.doorbell.ring() }
        }
        defer { client.bus.removeObserver(wakeUps) }
        // This process's sends claim runs for the worker in their own commits.
        let claimerID = client.sendClaimers.add(sendClaimer())
        defer { client.sendClaimers.remove(claimerID) }
        // Every change another process makes, when the store can tell (StoreChangeFeed);
        // subscribed before the first claim, so that nothing between the two is missed. A
        // change this worker's own claim covered (a slot's checkpoint, a send) needs no look.
        let changes = (client.store as? any StoreChangeFeed)?.changes()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                if let changes {
                    let environment = client.configuration.environment
                    group.addTask {
                        for await change in changes where change.mayConcern(environment: environment) && change.coveredBy != self.id {
                            self.doorbell.ring()
                        }
                    }
                }
                group.addTask { await self.renewLeases() }
                for _ in 0..<configuration.concurrency {
                    group.addTask {
                        while let run = await self.slots.next() { await self.executeThenClaimMore(run) }
                    }
                }
                if client.metrics.isRecording {
                    group.addTask { await self.sampleDueAge() }
                }
                await self.claimLoop()
                await self.waitForRunsToFinish()
                // Runs handed over as the worker stopped and not begun wait for their leases.
                for run in self.slots.close() {
                    self.inFlight.withLock { _ = $0.removeValue(forKey: run.run.id) }
                    self.busySlots.subtract(1, ordering: .sequentiallyConsistent)
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.doorbell.ring()
        }
        logger.info("worker stopped")
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) || Task.isCancelled }

    private func claimLoop() async {
        while !isStopping {
            // Said before the slots are counted, so that a send giving slots back after the
            // count found none free knows to ring (``releaseReservedSlots(_:)``).
            lookedWhileFull.store(true, ordering: .sequentiallyConsistent)
            // The free slots are taken before the claim, not after: a send may claim for
            // this worker meanwhile, and the two must not fill more than `concurrency`.
            let capacity = reserveSlots(upTo: configuration.concurrency)
            var claimedAny = false
            if capacity > 0 {
                lookedWhileFull.store(false, ordering: .sequentiallyConsistent)
                do {
                    try await fireSchedules()
                    let claimed = try await claim(limit: capacity)
                    claimedAny = !claimed.isEmpty
                    for run in claimed { hand(run) }
                    // A claim with room left took every run due: looking again at once would
                    // find nothing; only a full one may have left some.
                    claimedAny = claimed.count == capacity
                    busySlots.subtract(capacity - claimed.count, ordering: .sequentiallyConsistent)
                } catch {
                    busySlots.subtract(capacity, ordering: .sequentiallyConsistent)
                    // Back off for a poll interval rather than spin on a failing store.
                    logger.error("could not claim runs", metadata: ["error": "\(error)"])
                    await doorbell.wait(timeout: configuration.pollInterval)
                    continue
                }
            }
            if claimedAny { continue }
            if capacity > 0 {
                await doorbell.wait(timeout: await timeUntilNextDueRun())
            } else {
                // Every slot is busy: a finishing run rings the doorbell.
                await doorbell.wait(timeout: configuration.pollInterval)
            }
        }
    }

    /// Executes `run`, then claims and executes the next due run in the same task, until none
    /// is due: a worker kept busy goes from run to run without a trip through the claim loop.
    ///
    /// The next run is claimed in the transaction of the checkpoint that lets the last one go,
    /// where the store can (``StoreClaimingWrites``): one commit, and one trip to the store,
    /// fewer per run.
    private func executeThenClaimMore(_ first: ClaimedRun) async {
        var next: ClaimedRun? = first
        let claimNext = NextRunClaim(
            request: { [self] in isStopping ? nil : claimRequest(limit: 1) },
            handOver: { [self] result, request in cover(result, request: request) })
        while let run = next {
            let claimedNext = await executor.execute(run, claimNext: claimNext)
            inFlight.withLock { _ = $0.removeValue(forKey: run.run.id) }
            // The slot stays taken while it claims, so that the claim loop never sees more
            // room than `concurrency` allows.
            if let claimedNext {
                next = claimedNext.first
            } else {
                next = isStopping ? nil : try? await claim(limit: 1).first
            }
            if let next { inFlight.withLock { $0[next.run.id] = next.lease } }
        }
        // The claim loop waits for a slot only when every slot was taken; otherwise it is
        // waiting for work, and the claim just made found none, so ringing would only make it
        // look again for nothing. Shutdown waits for the last slot.
        let wasFull = busySlots.subtract(1, ordering: .sequentiallyConsistent).oldValue >= configuration.concurrency
        if wasFull || isStopping { doorbell.ring() }
    }

    /// How this worker takes the runs its client's sends claim: slots reserved before the
    /// send's transaction (so that the claim loop never fills them too), the runs handed over
    /// after its commit, the unused slots given back.
    private func sendClaimer() -> SendClaimer {
        SendClaimer(
            concurrency: configuration.concurrency,
            reserve: { [self] wanted in
                guard !isStopping else { return nil }
                // One slot more than the send may start, where there is one: a claim that
                // leaves room shows that nothing else was due, and spares the claim loop a
                // look (``cover(_:request:)``); the slot is given back at once.
                let taken = reserveSlots(upTo: wanted + 1)
                return taken > 0 ? claimRequest(limit: taken) : nil
            },
            handOver: { [self] result, request in
                for run in result.claimed { hand(run) }
                releaseReservedSlots(request.limit - result.claimed.count)
                cover(result, request: request)
            },
            cancel: { [self] request in releaseReservedSlots(request.limit) })
    }

    /// Marks the events of a write that claimed with room to spare as needing no wake-up:
    /// with room left in the claim, nothing was due that it did not take. A run started later
    /// than its event (throttled, debounced…) is not due yet, and is left to the wake-up,
    /// which also sets when to look again.
    private func cover(_ result: ClaimingWriteResult, request: ClaimRequest) {
        guard result.claimed.count < request.limit, !client.registry.hasDelayedStarts else { return }
        let ids = result.outcomes.compactMap { $0.accepted?.id }
        guard !ids.isEmpty else { return }
        covered.withLock { covered in
            // Bounded, should a publication ever not follow (it always does).
            if covered.count > 10_000 { covered.removeAll() }
            covered.formUnion(ids)
        }
    }

    /// Gives a claimed run, whose slot is taken already, to an idle slot.
    private func hand(_ run: ClaimedRun) {
        inFlight.withLock { $0[run.run.id] = run.lease }
        guard !slots.hand(run) else { return }
        // The worker stopped between the claim and now: the run is claimed here but will not
        // run here, and is taken over once its lease runs out.
        inFlight.withLock { _ = $0.removeValue(forKey: run.run.id) }
        releaseReservedSlots(1)
        logger.notice("a run claimed as the worker stopped waits for its lease to run out", metadata: ["stepwise.run": "\(run.run.id)"])
    }

    /// Takes up to `wanted` free slots at once; returns how many it took.
    private func reserveSlots(upTo wanted: Int) -> Int {
        var busy = busySlots.load(ordering: .sequentiallyConsistent)
        while true {
            let take = min(wanted, configuration.concurrency - busy)
            guard take > 0 else { return 0 }
            let (exchanged, original) = busySlots.compareExchange(
                expected: busy, desired: busy + take, ordering: .sequentiallyConsistent)
            if exchanged { return take }
            busy = original
        }
    }

    /// Gives back `count` reserved slots that no run filled (a send's claim with room left, or
    /// a run claimed as the worker stopped). The claim loop is rung only if it found the slots
    /// taken meanwhile (and so waits for a finishing run): the claim took whatever was due,
    /// and ringing would only send the loop to look again.
    private func releaseReservedSlots(_ count: Int) {
        guard count > 0 else { return }
        busySlots.subtract(count, ordering: .sequentiallyConsistent)
        if lookedWhileFull.exchange(false, ordering: .sequentiallyConsistent) || isStopping { doorbell.ring() }
    }

    /// Whether published `events` may have made runs due that no claim has taken: any event
    /// that no claiming write covered (``cover(_:request:)``). The covered ones are forgotten
    /// as they are seen.
    private func uncovers(_ events: [StoredEvent]) -> Bool {
        covered.withLock { covered in
            guard !covered.isEmpty else { return true }
            var uncovered = false
            for event in events where covered.remove(event.id) == nil { uncovered = true }
            return uncovered
        }
    }

    /// Starts the runs of schedules whose tick has come; a transient failure is retried.
    private func fireSchedules() async throws {
        // A read of the store each time the claim loop wakes, ahead of the claim: spared when
        // none of the functions is scheduled. The worker registered the complete set at start,
        // so the store holds no schedule for a function this client defines without one.
        guard client.registry.hasSchedules else { return }
        _ = try await StoreRetry.standard.run("fireSchedules", logger: logger) {
            try await client.fireDueSchedules()
        }
    }

    /// Claims due runs; a transient failure is retried (a failed claim took no lease).
    private func claim(limit: Int) async throws -> [ClaimedRun] {
        try await StoreRetry.standard.run("claim", logger: logger) {
            try await client.store.claim(claimRequest(limit: limit))
        }
    }

    /// A claim of up to `limit` due runs of this worker's functions, now, under its leases.
    private func claimRequest(limit: Int) -> ClaimRequest {
        ClaimRequest(
            environment: client.configuration.environment, appID: client.id, functionIDs: client.registry.ids, owner: id,
            now: client.configuration.clock.now(), leaseDuration: configuration.leaseDuration.milliseconds, limit: limit)
    }

    /// How long to wait before looking again: until the next run is due, at most the poll interval.
    private func timeUntilNextDueRun() async -> Duration {
        let next = try? await client.store.nextDueTime(
            environment: client.configuration.environment, appID: client.id, functionIDs: client.registry.ids)
        guard let next else { return configuration.pollInterval }
        let wait = Duration.milliseconds(max(0, next - client.configuration.clock.now()))
        return min(wait, configuration.pollInterval)
    }

    private func waitForRunsToFinish() async {
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.shutdownGracePeriod
        while busySlots.load(ordering: .relaxed) > 0, clock.now < deadline {
            await doorbell.wait(timeout: min(deadline - clock.now, .milliseconds(100)))
        }
        let left = busySlots.load(ordering: .relaxed)
        if left > 0 {
            logger.notice("grace period over; cancelling runs still in flight", metadata: ["runs": "\(left)"])
        }
    }

    /// Renews the leases of runs in flight every third of the lease, until cancelled.
    private func renewLeases() async {
        let interval = configuration.leaseDuration / 3
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            let leases = inFlight.withLock { Array($0.values) }
            guard !leases.isEmpty else { continue }
            do {
                let until = client.configuration.clock.now() + configuration.leaseDuration.milliseconds
                let lost = try await client.store.renew(leases, until: until)
                for lease in lost {
                    // Its next commit will be refused; nothing else to do here.
                    logger.warning("lease lost", metadata: ["stepwise.run": "\(lease.runID)"])
                }
            } catch {
                logger.error("could not renew leases", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Records the age of the oldest due run every ``Configuration/dueAgeSampleInterval``, until
    /// cancelled: 0 when nothing is due. The clearest sign that workers fall behind, whatever
    /// the cause; every worker on a store sees the same backlog, so aggregate it with `max`.
    private func sampleDueAge() async {
        while !Task.isCancelled {
            await sampleDueAgeOnce()
            do { try await Task.sleep(for: configuration.dueAgeSampleInterval) } catch { return }
        }
    }

    /// One sample of the age of the oldest due run, from the store's earliest due time.
    package func sampleDueAgeOnce() async {
        do {
            let next = try await client.store.nextDueTime(
                environment: client.configuration.environment, appID: client.id, functionIDs: client.registry.ids)
            let now = client.configuration.clock.now()
            let age = next.map { max(0, now - $0) } ?? 0
            client.metrics.dueAge.record(Double(age) / 1000)
        } catch {
            logger.debug("could not sample the oldest due run", metadata: ["error": "\(error)"])
        }
    }

    /// Executes every run that is due now, and the runs those make due now, until none is
    /// left; returns the time the next run falls due, if any. A test driver, published by
    /// StepwiseTesting as `drain()`: an app runs the worker as a service.
    package func executeDueRuns() async throws -> Int64? {
        try await client.registerFunctions(completeSet: true)
        while true {
            try await fireSchedules()
            let claimed = try await claim(limit: configuration.concurrency)
            if claimed.isEmpty { break }
            await withDiscardingTaskGroup { group in
                for run in claimed {
                    group.addTask { await self.executor.execute(run) }
                }
            }
        }
        return try await client.store.nextDueTime(
            environment: client.configuration.environment, appID: client.id, functionIDs: client.registry.ids)
    }
}

extension StepwiseClient {
    /// A worker that runs this client's functions; run it in a `ServiceGroup`.
    public func worker(_ configuration: Worker.Configuration = Worker.Configuration()) -> Worker {
        Worker(client: self, configuration: configuration, logger: logger)
    }
}
