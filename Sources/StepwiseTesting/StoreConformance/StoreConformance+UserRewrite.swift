@_spi(StoreImplementation) import Stepwise

extension StoreConformance {
    /// The rules of ``StoreUserRewrite``, for stores that conform to it.
    public static var userRewriteCases: [Case] {
        [
            Case("stored users page by id, and a rewrite swaps a row's user only while it is still the text read") { context in
                let store = try unwrap(context.store as? any StoreUserRewrite, "\(type(of: context.store)) does not conform to StoreUserRewrite")
                let client = context.client()
                var ids: [EventID] = []
                for n in 0..<5 { ids.append(try await client.send(Event(name: "a", user: ["n": .int(Int64(n))]))) }
                try await client.send(Event(name: "a"))
                try await context.client(environment: "other").send(Event(name: "a", user: ["n": 9]))
                let first = try await store.storedUsers(environment: "default", after: nil, limit: 3)
                let second = try await store.storedUsers(environment: "default", after: first.last?.eventID, limit: 3)
                try require((first + second).map(\.eventID) == ids.sorted(), "every user of the environment, by id, once: \(first + second)")
                let target = try unwrap(first.first, "a row")
                let rewritten = try await store.rewriteUsers(
                    [UserRewrite(eventID: target.eventID, old: target.userText, new: #"{"n":"new"}"#),
                     UserRewrite(eventID: ids[1], old: #"{"n":"stale"}"#, new: #"{"n":"lost"}"#)],
                    environment: "default")
                try require(rewritten == 1, "only the row still holding the text read: \(rewritten)")
                try require(try await store.event(id: target.eventID, environment: "default")?.user == ["n": "new"], "the new user reads back")
                try require(try await store.event(id: ids[1], environment: "default")?.user == ["n": 1], "the stale rewrite changed nothing")
                let again = try await store.rewriteUsers(
                    [UserRewrite(eventID: target.eventID, old: target.userText, new: #"{"n":"twice"}"#)], environment: "default")
                try require(again == 0, "a second rewrite from the same old text finds it changed")
            },
        ]
    }
}
