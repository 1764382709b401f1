import Synchronization

/// The functions a client holds, and whether the store has heard of the latest set.
final class FunctionRegistry: Sendable {
    private struct State {
        var functions: [String: StepwiseFunction] = [:]
        /// Bumped on every change; compared with what the store last registered.
        var generation = 0
        var registeredGeneration = -1
    }

    private let state = Mutex(State())

    func add(_ functions: [StepwiseFunction]) throws(FunctionDefinitionError) {
        try state.withLock { state throws(FunctionDefinitionError) in
            for function in functions where state.functions[function.id] != nil {
                throw FunctionDefinitionError(description: "a function with id '\(function.id)' is already defined in this app")
            }
            for function in functions { state.functions[function.id] = function }
            state.generation += 1
        }
    }

    func function(id: String) -> StepwiseFunction? {
        state.withLock { $0.functions[id] }
    }

    var all: [StepwiseFunction] {
        state.withLock { Array($0.functions.values) }.sorted { $0.id < $1.id }
    }

    /// Whether any function has a cron trigger: without one, no schedule of this client's
    /// functions exists in the store, and a worker need not look for due ticks.
    var hasSchedules: Bool {
        state.withLock { state in
            state.functions.values.contains { function in
                function.triggers.contains { if case .cron = $0.kind { true } else { false } }
            }
        }
    }

    /// How many runs events with these names may start, counting a function once per event
    /// whose name one of its event triggers matches (a trigger's condition may still say no),
    /// and no more than `limit`.
    func runsPossiblyStarted(byEventsNamed names: some Sequence<String>, limit: Int) -> Int {
        state.withLock { state in
            var count = 0
            for name in names {
                for function in state.functions.values {
                    let triggered = function.triggers.contains { trigger in
                        if case .event(let registration) = trigger.kind { return registration.pattern.matches(name) }
                        return false
                    }
                    if triggered {
                        count += 1
                        if count >= limit { return count }
                    }
                }
            }
            return count
        }
    }

    /// Whether any function may start a run later than the event that triggers it (throttle,
    /// debounce, batching, priority): such a run is not due when its event is committed, so a
    /// claim in that commit says nothing of when to look for it.
    var hasDelayedStarts: Bool {
        state.withLock { state in
            state.functions.values.contains { function in
                let options = function.options
                return options.throttle != nil || options.debounce != nil || options.batchEvents != nil || options.priority != nil
            }
        }
    }

    var ids: [String] {
        state.withLock { Array($0.functions.keys) }.sorted()
    }

    /// The generation to register, or `nil` when the store already has it.
    var unregisteredGeneration: Int? {
        state.withLock { $0.generation == $0.registeredGeneration ? nil : $0.generation }
    }

    func markRegistered(_ generation: Int) {
        state.withLock { $0.registeredGeneration = max($0.registeredGeneration, generation) }
    }
}
