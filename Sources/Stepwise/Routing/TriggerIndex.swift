/// One event trigger of a registered function, as a store hands it back: the function it
/// starts and that function's settings, which the runs it creates need.
@_spi(StoreImplementation)
public struct RegisteredTrigger: Sendable {
    public let appID: String
    public let functionID: String
    public let trigger: TriggerRegistration
    public let settings: FunctionSettings

    public init(appID: String, functionID: String, trigger: TriggerRegistration, settings: FunctionSettings) {
        self.appID = appID
        self.functionID = functionID
        self.trigger = trigger
        self.settings = settings
    }

    /// Whether the runs it starts pass through flow control (an `if`, keys, limits): a store's
    /// fast path that inserts runs as they are leaves those to its general one.
    public var appliesFlowControl: Bool { trigger.condition != nil || settings.hasFlowControl }
}

/// Which functions an event starts a run of: the engine's decision, which every store makes
/// the same way by asking this index inside its append transaction.
///
/// A store loads its environment's triggers once per appended batch and matches in memory:
/// an exact name is a dictionary look-up, a prefix a scan of the (few) prefix triggers. Names
/// are compared by their UTF-8 bytes, as waits and dedupe ids are: two spellings of é that
/// Swift's `==` holds equal are different names to a sender and to JSON.
@_spi(StoreImplementation)
public struct TriggerIndex: Sendable {
    private var exact: [[UInt8]: [RegisteredTrigger]] = [:]
    private var prefixes: [(prefix: [UInt8], target: RegisteredTrigger)] = []

    public init(_ triggers: [RegisteredTrigger]) {
        for target in triggers {
            let pattern = Array(target.trigger.pattern.text.utf8)
            if target.trigger.pattern.isPrefix {
                prefixes.append((pattern, target))
            } else {
                exact[pattern, default: []].append(target)
            }
        }
    }

    /// Whether no function is triggered by any event: a store may skip the look-up.
    public var isEmpty: Bool { exact.isEmpty && prefixes.isEmpty }

    /// The functions `event` starts a run of: each once, however many of its triggers match;
    /// a trigger's conditions must hold; and a system event about a function never starts
    /// that same function, so a function listening to `stepwise/*` cannot trigger itself
    /// forever.
    public func targets(for event: StoredEvent) -> [RegisteredTrigger] {
        if isEmpty { return [] }
        let name = Array(event.name.utf8)
        var candidates = exact[name] ?? []
        for (prefix, target) in prefixes where name.starts(with: prefix) {
            candidates.append(target)
        }
        guard !candidates.isEmpty else { return [] }
        var targets: [RegisteredTrigger] = []
        for candidate in candidates
        where !targets.contains(where: { $0.appID == candidate.appID && $0.functionID == candidate.functionID }) {
            guard candidate.trigger.conditionsHold(for: event) else { continue }
            if event.name.hasPrefix(SystemEvent.reservedPrefix), event.data["function_id"]?.stringValue == candidate.functionID,
               event.data["app_id"]?.stringValue == candidate.appID
            {
                continue
            }
            targets.append(candidate)
        }
        return targets
    }
}
