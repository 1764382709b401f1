import Synchronization

/// The bytes of request bodies a server holds in memory at once, shared by its requests: a
/// request reserves what its body may take before reading it, and waits while the budget is
/// spent.
///
/// Without it, memory grows with the number of clients that begin an upload: a thousand
/// uploads stalled after a megabyte each held a gigabyte. With it, a waiting request reads
/// nothing, so its bytes stay in the kernel's socket buffers, and the server's own memory for
/// bodies stays under the budget however many clients try. A request that waits too long is
/// answered 408 by the connection's body deadline, like one that sends too slowly.
final class BodyBudget: Sendable {
    private struct State {
        var available: Int
        var waiting: [(bytes: Int, id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID = 0
    }

    let capacity: Int
    private let state: Mutex<State>

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        self.state = Mutex(State(available: max(1, capacity)))
    }

    /// Runs `body` with `bytes` of the budget reserved (at most the whole budget), waiting for
    /// them first; gives them back when `body` ends, however it ends.
    func withReservation<Result>(of bytes: Int, _ body: () async throws -> Result) async throws -> Result {
        let wanted = min(max(0, bytes), capacity)
        try await reserve(wanted)
        defer { release(wanted) }
        return try await body()
    }

    private func reserve(_ bytes: Int) async throws {
        let id = state.withLock { state -> Int? in
            if state.waiting.isEmpty, state.available >= bytes {
                state.available -= bytes
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.waiting.append((bytes, id, continuation))
                    return false
                }
                if resumeNow { continuation.resume(throwing: CancellationError()) }
                grantWaiting()
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiting.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    private func release(_ bytes: Int) {
        state.withLock { $0.available += bytes }
        grantWaiting()
    }

    /// Resumes waiting requests, first come first served, while their reservations fit.
    private func grantWaiting() {
        let granted = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            var granted: [CheckedContinuation<Void, any Error>] = []
            while let first = state.waiting.first, first.bytes <= state.available {
                state.available -= first.bytes
                granted.append(state.waiting.removeFirst().continuation)
            }
            return granted
        }
        granted.forEach { $0.resume() }
    }
}
