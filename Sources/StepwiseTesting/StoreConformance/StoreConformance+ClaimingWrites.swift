@_spi(StoreImplementation) import Stepwise
import Synchronization

extension StoreConformance {
    /// The rules of ``StoreClaimingWrites``, for stores that conform to it; a case run against
    /// a store that does not fails saying so.
    public static var claimingWriteCases: [Case] {
        [
            Case("a checkpoint that claims commits first, then claims what is due after it, the runs its events started included") { context in
                let store = try claiming(context)
                try await context.register([(id: "f", triggers: ["a"]), (id: "g", triggers: ["b"])])
                let client = context.client()
                try await client.send(Event(name: "a"))
                try await client.send(Event(name: "a"))
                let first = try unwrap(try await context.claim(["f", "g"], owner: "w", limit: 1).first, "the first run is claimed")
                let now = context.clock.now()
                let order = Mutex<[String]>([])
                let events = try EventBatch(
                    validating: [Event(name: "b")], environment: "default", receivedAt: now,
                    afterCommit: { _ in order.withLock { $0.append("published") } })
                let result = try await store.commit(
                    RunCheckpoint(
                        lease: first.lease, now: now, steps: [StepWrite(context.step("s", of: first.run.id, output: 1))], events: events,
                        transition: .complete(output: 1)),
                    thenClaim: ClaimRequest(
                        environment: "default", appID: "conformance-app", functionIDs: ["f", "g"], owner: "w", now: now, leaseDuration: 1000,
                        limit: 10),
                    handOver: { handed in order.withLock { $0.append("handed over \(handed.claimed.count)") } })
                try require(order.withLock { $0 } == ["handed over 2", "published"], "handed over first: \(order.withLock { $0 })")
                try require(result.outcomes.count == 1 && result.outcomes[0].accepted != nil, "the checkpoint's event is accepted")
                let ended = try unwrap(try await context.store.run(id: first.run.id, environment: "default"), "the first run")
                try require(ended.status == .completed, "the checkpoint committed: \(ended.status)")
                try require(
                    Set(result.claimed.map(\.run.functionID)) == ["f", "g"] && result.claimed.count == 2,
                    "the other due run and the one the checkpoint's event started are claimed: \(result.claimed.map(\.run.functionID))")
                try require(
                    result.claimed.first { $0.run.functionID == "g" }?.event.id == result.outcomes[0].eventID,
                    "the started run comes with the event the checkpoint appended")
                try require(try await context.claim(["f", "g"], owner: "w2").isEmpty, "what it claimed is held: no other claim takes it")
                for run in result.claimed {
                    _ = try await context.store.commit(RunCheckpoint(
                        lease: run.lease, now: now, steps: [], events: nil, transition: .complete(output: 2)))
                }
            },
            Case("a checkpoint that claims, refused by the fence, stores nothing and claims nothing") { context in
                let store = try claiming(context)
                try await context.register([(id: "f", triggers: ["a"])])
                let client = context.client()
                try await client.send(Event(name: "a"))
                let stale = try unwrap(try await context.claim(["f"], owner: "w1", lease: 1000).first, "claimed")
                context.clock.advance(by: .seconds(2))
                let current = try unwrap(try await context.claim(["f"], owner: "w2").first, "taken over")
                try await client.send(Event(name: "a"))
                let now = context.clock.now()
                let handed = Mutex(false)
                try await requireThrows(LeaseLostError.self, "a stale checkpoint that claims") {
                    _ = try await store.commit(
                        RunCheckpoint(lease: stale.lease, now: now, steps: [], events: nil, transition: .complete(output: 1)),
                        thenClaim: ClaimRequest(
                            environment: "default", appID: "conformance-app", functionIDs: ["f"], owner: "w1", now: now, leaseDuration: 1000,
                            limit: 10),
                        handOver: { _ in handed.withLock { $0 = true } })
                }
                try require(!handed.withLock { $0 }, "nothing is handed over")
                let run = try unwrap(try await context.store.run(id: current.run.id, environment: "default"), "the run")
                try require(run.status == .running, "the stale checkpoint changed nothing: \(run.status)")
                let due = try await context.claim(["f"], owner: "w3")
                try require(due.count == 1 && due[0].run.id != current.run.id, "the due run was not claimed by the refused checkpoint")
            },
            Case("a run a checkpoint lets go of is due to the claim in its own transaction, under a new lease") { context in
                let store = try claiming(context)
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                let run = try unwrap(try await context.claim(["f"], owner: "w1").first, "claimed")
                let now = context.clock.now()
                let result = try await store.commit(
                    RunCheckpoint(lease: run.lease, now: now, steps: [], events: nil, transition: .release),
                    thenClaim: ClaimRequest(
                        environment: "default", appID: "conformance-app", functionIDs: ["f"], owner: "w2", now: now, leaseDuration: 1000,
                        limit: 1),
                    handOver: { _ in })
                let again = try unwrap(result.claimed.first, "the released run is claimed again")
                try require(again.run.id == run.run.id && again.lease.token > run.lease.token, "under a newer lease: \(again.lease)")
                try await requireThrows(LeaseLostError.self, "the old lease") {
                    _ = try await context.store.commit(RunCheckpoint(lease: run.lease, now: now, steps: [], events: nil, transition: .none))
                }
            },
            Case("an append that claims hands over what is due after it, the runs it started included, before it is published") { context in
                let store = try claiming(context)
                try await context.register([(id: "f", triggers: ["a"])])
                let earlier = try await context.client().send(Event(name: "a"))
                let order = Mutex<[String]>([])
                let handedOver = Mutex<[ClaimedRun]>([])
                let now = context.clock.now()
                let batch = try EventBatch(
                    validating: [Event(name: "a"), Event(name: "z")], environment: "default", receivedAt: now,
                    afterCommit: { _ in order.withLock { $0.append("published") } })
                let outcomes = try await store.append(
                    batch,
                    thenClaim: ClaimRequest(
                        environment: "default", appID: "conformance-app", functionIDs: ["f"], owner: "w", now: now, leaseDuration: 1000, limit: 10),
                    handOver: { result in
                        order.withLock { $0.append("handed over") }
                        handedOver.withLock { $0 = result.claimed }
                    })
                try require(outcomes.count == 2 && outcomes.allSatisfy { $0.accepted != nil }, "both events are accepted")
                try require(order.withLock { $0 } == ["handed over", "published"], "handed over first: \(order.withLock { $0 })")
                let claimed = handedOver.withLock { $0 }
                try require(
                    Set(claimed.map(\.run.eventID)) == [earlier, outcomes[0].eventID] && claimed.count == 2,
                    "the earlier due run and the one the append started: \(claimed.map(\.run.eventID))")
                try require(claimed.map(\.run.eventID).first == earlier, "earliest due first")
                try require(try await context.claim(["f"], owner: "w2").isEmpty, "what it claimed is held")
            },
            Case("an append that claims takes no more than its limit; the rest stay due") { context in
                let store = try claiming(context)
                try await context.register([(id: "f", triggers: ["a"])])
                let now = context.clock.now()
                let batch = try EventBatch(validating: (0..<3).map { _ in Event(name: "a") }, environment: "default", receivedAt: now)
                let handedOver = Mutex<[ClaimedRun]>([])
                _ = try await store.append(
                    batch,
                    thenClaim: ClaimRequest(
                        environment: "default", appID: "conformance-app", functionIDs: ["f"], owner: "w", now: now, leaseDuration: 1000, limit: 1),
                    handOver: { result in handedOver.withLock { $0 = result.claimed } })
                try require(handedOver.withLock { $0.count } == 1, "one run claimed: \(handedOver.withLock { $0.count })")
                try require(try await context.claim(["f"], owner: "w2").count == 2, "the other two are due")
            },
        ]
    }

    private static func claiming(_ context: ConformanceContext) throws(StoreConformanceFailure) -> any StoreClaimingWrites {
        try unwrap(context.store as? any StoreClaimingWrites, "\(type(of: context.store)) does not conform to StoreClaimingWrites")
    }
}
