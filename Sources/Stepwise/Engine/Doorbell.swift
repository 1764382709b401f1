import Dispatch
import Synchronization

/// Wakes a waiting loop: rung when there may be work (an event arrived, a run finished),
/// waited on with a timeout. Rings while nobody waits are remembered, once.
///
/// A wait is one continuation and one dispatch timer, with no task of its own: the worker's
/// claim loop waits here between nearly every pair of runs, and a wait built from a task
/// group, a sleeping child task and its cancellation cost several thread hand-offs each time
/// (issue 15 counted the context switches a run takes).
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Counts waits, so that a wait's timer resumes that wait and no later one.
        var wait: UInt64 = 0
        var timer: DispatchWorkItem?
    }

    private let state = Mutex(State())

    func ring() {
        let (waiter, timer) = state.withLock { state -> (CheckedContinuation<Void, Never>?, DispatchWorkItem?) in
            if let waiter = state.waiter {
                state.waiter = nil
                defer { state.timer = nil }
                return (waiter, state.timer)
            }
            state.rung = true
            return (nil, nil)
        }
        timer?.cancel()
        waiter?.resume()
    }

    /// Returns when rung (or at once if rung since the last wait), after `timeout`, or when the
    /// task is cancelled. One waiter at a time.
    func wait(timeout: Duration) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let timer = state.withLock { state -> DispatchWorkItem? in
                    if state.rung || Task.isCancelled {
                        state.rung = false
                        return nil
                    }
                    state.wait &+= 1
                    let wait = state.wait
                    let timer = DispatchWorkItem { self.timeOut(wait) }
                    state.waiter = continuation
                    state.timer = timer
                    return timer
                }
                guard let timer else {
                    continuation.resume()
                    return
                }
                DispatchQueue.global().asyncAfter(deadline: Self.deadline(after: timeout), execute: timer)
            }
        } onCancel: {
            self.ring()
        }
    }

    /// Resumes wait number `wait` if it is still waiting: a timeout is no ring, and leaves
    /// nothing remembered for the next wait.
    private func timeOut(_ wait: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.wait == wait, let waiter = state.waiter else { return nil }
            state.waiter = nil
            state.timer = nil
            return waiter
        }
        waiter?.resume()
    }

    private static func deadline(after timeout: Duration) -> DispatchTime {
        let parts = max(timeout, .zero).components
        // A day is longer than any wait the worker asks for, and keeps the sum in range.
        let nanoseconds = min(parts.seconds, 86_400) * 1_000_000_000 + parts.attoseconds / 1_000_000_000
        return .now() + .nanoseconds(Int(nanoseconds))
    }
}
