import DequeModule
import Synchronization

/// Hands claimed runs to a worker's slots: a fixed set of tasks, one per unit of concurrency,
/// each waiting here for its next run while idle.
///
/// A run handed over resumes an idle slot directly, from whatever thread hands it: the claim
/// loop's task, or the store's writer right after a `send` that claimed it committed. A task
/// made per run instead, and a task to read the sends' runs from a stream and make it, were
/// two thread hand-offs more on the way from a commit to the run's first step (issue 15).
/// A run handed over while no slot waits yet (one is finishing its last) waits in line.
final class SlotQueue: Sendable {
    private struct State {
        var runs = Deque<ClaimedRun>()
        var idle: [CheckedContinuation<ClaimedRun?, Never>] = []
        var closed = false
    }

    private let state = Mutex(State())

    /// Gives `run` to an idle slot, or queues it for the next slot to ask.
    ///
    /// - Returns: `false` once the queue is closed (the worker is stopping): the run is not
    ///   taken.
    func hand(_ run: ClaimedRun) -> Bool {
        let taken = state.withLock { state -> (Bool, CheckedContinuation<ClaimedRun?, Never>?) in
            guard !state.closed else { return (false, nil) }
            if let slot = state.idle.popLast() { return (true, slot) }
            state.runs.append(run)
            return (true, nil)
        }
        taken.1?.resume(returning: run)
        return taken.0
    }

    /// The next run for the calling slot, or `nil` once the queue is closed.
    func next() async -> ClaimedRun? {
        await withCheckedContinuation { (slot: CheckedContinuation<ClaimedRun?, Never>) in
            let ready = state.withLock { state -> ClaimedRun?? in
                if let run = state.runs.popFirst() { return .some(run) }
                if state.closed { return .some(nil) }
                state.idle.append(slot)
                return nil
            }
            if let ready { slot.resume(returning: ready) }
        }
    }

    /// Ends every idle slot's wait, and every later one; runs still in line are dropped, to
    /// be taken over once their leases run out.
    ///
    /// - Returns: the runs that were in line.
    @discardableResult
    func close() -> [ClaimedRun] {
        let (idle, dropped) = state.withLock { state -> ([CheckedContinuation<ClaimedRun?, Never>], [ClaimedRun]) in
            state.closed = true
            defer {
                state.idle = []
                state.runs = []
            }
            return (state.idle, Array(state.runs))
        }
        for slot in idle { slot.resume(returning: nil) }
        return dropped
    }
}
