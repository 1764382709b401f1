import Foundation
import Hummingbird
import Synchronization
import Testing
@testable import Stepwise
import StepwiseHTTP
import StepwiseHTTPClient

/// Lets every request through to the API, but for the first `failures` answers with a 503
/// once the API has handled the request: the answer lost on the way back, after the events
/// were stored. Records each request's seed header.
struct LostAnswerMiddleware<Context: RequestContext>: RouterMiddleware {
    final class Log: Sendable {
        let seeds = Mutex<[String]>([])
    }

    let failures: Int
    let log = Log()
    /// The seed header of each request so far.
    var seeds: [String] { log.seeds.withLock { $0 } }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let count = log.seeds.withLock { seen in
            seen.append(request.headers[HTTPField.Name("x-inngest-event-id-seed")!] ?? "")
            return seen.count
        }
        let response = try await next(request, context)
        if count <= failures { return Response(status: .serviceUnavailable) }
        return response
    }
}

import HTTPTypes

/// Sends through any sender: the code an app writes once for both.
func sendSignup(with sender: some EventSender, user: String) async throws -> EventID {
    try await sender.send(Event(name: "user.signup", data: ["userId": .string(user)]))
}

@Suite("HTTPEventSender against a real server")
struct HTTPEventSenderTests {
    func fastRetries(_ url: String, key: String? = "key-one", attempts: Int = 4) -> HTTPEventSender.Configuration {
        .init(baseURL: url, eventKey: key, maxAttempts: attempts, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(5))
    }

    @Test("sends a batch and gets its ids; the same code sends in-process through EventSender")
    func sends() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: production) { url in
            let sender = try HTTPEventSender(configuration: fastRetries(url))
            let ids = try await sender.send([
                Event(name: "a", data: ["n": 1], id: "only-once"), Event(name: "b", user: ["email": "x@example.com"], v: "1"),
                Event(name: "a", data: ["n": 2], id: "only-once"),
            ])
            #expect(ids.count == 3)
            #expect(ids[2] == ids[0])
            let b = try #require(try await client.event(id: ids[1]))
            #expect(b.user == ["email": "x@example.com"])
            #expect(b.v == "1")

            let overHTTP = try await sendSignup(with: sender, user: "u1")
            let inProcess = try await sendSignup(with: client, user: "u2")
            #expect(try await client.event(id: overHTTP)?.data == ["userId": "u1"])
            #expect(try await client.event(id: inProcess)?.data == ["userId": "u2"])
        }
    }

    @Test("a 4xx is a typed error with the server's message, not retried")
    func rejected() async throws {
        let client = try makeClient()
        let middleware = LostAnswerMiddleware<BasicRequestContext>(failures: 0)
        let router = Router()
        router.add(middleware: middleware)
        StepwiseHTTPAPI(client: client, configuration: production).addRoutes(to: router)
        try await withServer(router) { url in
            let sender = try HTTPEventSender(configuration: fastRetries(url, key: "wrong"))
            await #expect(throws: HTTPEventSenderError.rejected(status: 401, message: "Event key not found")) {
                try await sender.send(Event(name: "a"))
            }
            #expect(middleware.seeds.count == 1)
        }
    }

    @Test("an invalid event fails before anything is sent, with the in-process error")
    func validatesFirst() async throws {
        let sender = try HTTPEventSender(configuration: fastRetries("http://127.0.0.1:1"))
        await #expect(throws: EventValidationError(index: 1, field: .data, problem: .notAnObject(found: "an array"))) {
            try await sender.send([Event(name: "ok"), Event(name: "bad", data: [1, 2])])
        }
    }

    @Test("an answer lost after the events were stored is retried under the same seed, and stored once")
    func lostAnswer() async throws {
        let client = try makeClient()
        let middleware = LostAnswerMiddleware<BasicRequestContext>(failures: 2)
        let router = Router()
        router.add(middleware: middleware)
        StepwiseHTTPAPI(client: client, configuration: production).addRoutes(to: router)
        try await withServer(router) { url in
            let sender = try HTTPEventSender(configuration: fastRetries(url))
            let ids = try await sender.send([Event(name: "a"), Event(name: "b")])
            let seeds = middleware.seeds
            #expect(seeds.count == 3)
            #expect(Set(seeds).count == 1, "one seed for every attempt")
            #expect(ids == [EventIDSeed(seeds[0])!.eventID(at: 0), EventIDSeed(seeds[0])!.eventID(at: 1)])
            #expect(try await storedEvents(client.store).map(\.name) == ["a", "b"], "stored once")
        }
        // Always failing: gives up after maxAttempts.
        let always = LostAnswerMiddleware<BasicRequestContext>(failures: 100)
        let failing = Router()
        failing.add(middleware: always)
        StepwiseHTTPAPI(client: client, configuration: production).addRoutes(to: failing)
        try await withServer(failing) { url in
            let sender = try HTTPEventSender(configuration: fastRetries(url, attempts: 3))
            await #expect {
                try await sender.send(Event(name: "c"))
            } throws: { error in
                guard case HTTPEventSenderError.unreachable(let attempts, let last) = error else { return false }
                return attempts == 3 && last.contains("503")
            }
            #expect(always.seeds.count == 3)
        }
    }

    @Test("a network error is retried, then reported")
    func unreachable() async throws {
        var configuration = fastRetries("http://127.0.0.1:1", attempts: 2)
        // AsyncHTTPClient keeps trying to connect until the attempt's deadline.
        configuration.requestTimeout = .milliseconds(300)
        let sender = try HTTPEventSender(configuration: configuration)
        await #expect {
            try await sender.send(Event(name: "a"))
        } throws: { error in
            guard case HTTPEventSenderError.unreachable(let attempts, _) = error else { return false }
            return attempts == 2
        }
    }

    @Test("configuration from STEPWISE_* variables, or Inngest's")
    func configuration() throws {
        let stepwise = HTTPEventSender.Configuration.fromEnvironment([
            "STEPWISE_EVENT_API_URL": "http://events.internal:8288", "STEPWISE_EVENT_KEY": "k1",
            "INNGEST_BASE_URL": "https://ignored", "INNGEST_EVENT_KEY": "ignored",
        ])
        #expect(stepwise.baseURL == "http://events.internal:8288")
        #expect(stepwise.eventKey == "k1")
        let inngest = HTTPEventSender.Configuration.fromEnvironment(["INNGEST_BASE_URL": "https://inn.gs", "INNGEST_EVENT_KEY": "k2", "INNGEST_ENV": "b"])
        #expect(inngest.baseURL == "https://inn.gs")
        #expect(inngest.eventKey == "k2")
        #expect(inngest.environment == "b")
        let none = HTTPEventSender.Configuration.fromEnvironment([:])
        #expect(none.baseURL == "http://127.0.0.1:8288")
        #expect(none.eventKey == nil)
        #expect(throws: HTTPEventSenderError.self) { try HTTPEventSender(configuration: .init(baseURL: "ftp://x")) }
        #expect(throws: HTTPEventSenderError.self) { try HTTPEventSender(configuration: .init(baseURL: "not a url")) }
        #expect(throws: HTTPEventSenderError.self) { try HTTPEventSender(configuration: .init(maxAttempts: 0)) }
    }
}
