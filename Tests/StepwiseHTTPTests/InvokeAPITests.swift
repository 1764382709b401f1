import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import Stepwise
import StepwiseHTTP
import StepwiseTesting

@Suite("REST API: POST /v1/functions/{id}/invoke, routes without sockets")
struct InvokeAPITests {
    @Test("invoke answers 201 with a queued run of the function, whose event is its function.invoked with the payload")
    func invoke() async throws {
        let harness = try HTTPHarness()
        try harness.client.createFunction(id: "charge", trigger: .event("order/placed")) { event, step in
            event.data["amount"]?.intValue ?? 0
        }
        try harness.client.createFunction(id: "billing/refund", trigger: .invokeOnly) { _, _ in 0 }
        try await harness.client.registerFunctions()
        let app = Application(router: StepwiseHTTPAPI(client: harness.client, configuration: production).router(), logger: quietLogger())
        let runID = try await app.test(.router) { client -> String in
            let unsigned = try await client.execute(uri: "/v1/functions/charge/invoke", method: .post, body: ByteBuffer(string: "{}"))
            #expect(unsigned.status == .unauthorized)
            let answer = try await client.execute(
                uri: "/v1/functions/charge/invoke", method: .post, headers: [.authorization: "Bearer sign-me"],
                body: ByteBuffer(string: #"{"data": {"amount": 42}}"#))
            #expect(answer.status == .created)
            let json = try JSON(parsing: answer.body.readableBytesView)
            #expect(json["data"]?["function_id"] == "charge")
            #expect(json["data"]?["status"] == "queued")
            let runID = try #require(json["data"]?["id"]?.stringValue)
            let empty = try await client.execute(uri: "/v1/functions/charge/invoke", method: .post, headers: [.authorization: "Bearer sign-me"])
            #expect(empty.status == .created, "an empty body invokes with {}")
            let slashed = try await client.execute(
                uri: "/v1/functions/billing%2Frefund/invoke", method: .post, headers: [.authorization: "Bearer sign-me"])
            #expect(slashed.status == .created, "an id with a slash, as one encoded segment: \(String(buffer: slashed.body))")

            for (path, body, status, words) in [
                ("/v1/functions/missing/invoke", "{}", HTTPResponse.Status.notFound, "no function 'missing'"),
                ("/v1/functions/charge/invoke", "[1]", .badRequest, "must be a JSON object"),
                ("/v1/functions/charge/invoke", #"{"data": [1]}"#, .badRequest, "data: must be a JSON object, not an array"),
                ("/v1/functions/charge/invoke", #"{"data": {}, "app_id": 3}"#, .badRequest, "app_id: must be a string"),
                ("/v1/functions/charge/invoke", #"{"dta": {}}"#, .badRequest, "dta: not a field of an invoke"),
                ("/v1/functions/charge/invoke", #"{"data": "#, .badRequest, "the body is not JSON"),
                ("/v1/functions/charge/invoke", #"{"app_id": "other-app"}"#, .notFound, "of app 'other-app'"),
            ] {
                let refused = try await client.execute(
                    uri: path, method: .post, headers: [.authorization: "Bearer sign-me"], body: ByteBuffer(string: body))
                #expect(refused.status == status, "\(body): \(String(buffer: refused.body))")
                #expect(String(buffer: refused.body).contains(words), "\(body): \(String(buffer: refused.body))")
            }
            return runID
        }
        let id = try #require(RunID(runID))
        let run = try #require(try await harness.client.run(id: id))
        let event = try #require(try await harness.client.event(id: run.eventID))
        #expect(event.name == SystemEvent.functionInvoked)
        #expect(event.data == ["amount": 42])
        try await harness.runUntilIdle()
        #expect(try await harness.client.run(id: id)?.output == 42)
        #expect(try await harness.client.runs(function: "charge").count == 2, "the two invokes, and nothing for the refusals")
        #expect(try await harness.client.runs(function: "billing/refund").count == 1)
    }
}
