import Foundation
import Testing
@testable import Stepwise
import StepwiseHTTP
import StepwiseTesting

/// `café` with a precomposed `é`, and the same word with `e` and a combining acute accent:
/// canonically equivalent, so equal as Swift strings, but two names to the store.
let composedCafe = "caf\u{E9}"
let decomposedCafe = "cafe\u{301}"

@Suite("Environment names")
struct EnvironmentNameTests {
    @Test("x-inngest-env compares names by Unicode scalars: a decomposed spelling is not the configured one")
    func gateComparesScalars() async throws {
        #expect(composedCafe == decomposedCafe, "Swift's String calls them equal; the gate must not")
        let client = try makeClient()
        var configuration = production
        configuration.environments = [composedCafe]
        try await withAPIServer(client: client, configuration: configuration) { url in
            let configured = try await post("\(url)/e/key-one", #"{"name": "a", "data": {}}"#, headers: [("x-inngest-env", composedCafe)])
            #expect(configured.status == 200)
            let other = try await post("\(url)/e/key-one", #"{"name": "a", "data": {}}"#, headers: [("x-inngest-env", decomposedCafe)])
            #expect(other.status == 404, "\(other.body)")
            #expect(try await storedEvents(client.store, environment: decomposedCafe).isEmpty)
        }
    }

    @Test("the REST API's per-environment clients never hand one spelling's events to the other")
    func clientCacheComparesScalars() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: development) { url in
            let composed = try await post("\(url)/e/x", #"{"name": "composed", "data": {}}"#, headers: [("x-inngest-env", composedCafe)])
            let decomposed = try await post("\(url)/e/x", #"{"name": "decomposed", "data": {}}"#, headers: [("x-inngest-env", decomposedCafe)])
            #expect(composed.status == 200 && decomposed.status == 200)
            let first = try await get("\(url)/v1/events", headers: [("x-inngest-env", composedCafe)])
            let second = try await get("\(url)/v1/events", headers: [("x-inngest-env", decomposedCafe)])
            #expect(first.json?["data"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["composed"])
            #expect(second.json?["data"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["decomposed"])
        }
    }

    @Test("the x-inngest-env limit counts UTF-8 bytes, not characters")
    func lengthInBytes() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: development) { url in
            let fits = String(repeating: "\u{E9}", count: 128)  // 256 bytes
            #expect(try await post("\(url)/e/x", #"{"name": "a", "data": {}}"#, headers: [("x-inngest-env", fits)]).status == 200)
            let tooLong = String(repeating: "\u{E9}", count: 129)  // 129 characters, 258 bytes
            let refused = try await post("\(url)/e/x", #"{"name": "a", "data": {}}"#, headers: [("x-inngest-env", tooLong)])
            #expect(refused.status == 400)
            #expect(refused.error?.contains("258 bytes") == true, "\(refused.body)")
            // One grapheme cluster of 601 bytes: the letter and 300 combining marks.
            let oneCluster = "e" + String(repeating: "\u{301}", count: 300)
            #expect(oneCluster.count == 1)
            #expect(try await post("\(url)/e/x", #"{"name": "a", "data": {}}"#, headers: [("x-inngest-env", oneCluster)]).status == 400)
        }
    }

    @Test("invalid UTF-8 in x-inngest-env is refused, not folded into another name")
    func invalidUTF8() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: development) { url in
            let answer = try await blocking {
                let connection = try RawConnection(url)
                let body = #"{"name": "a", "data": {}}"#
                connection.send(Array("POST /e/x HTTP/1.1\r\nHost: 127.0.0.1\r\nx-inngest-env: br".utf8) + [0xFF, 0xFE] + Array(
                    "anch\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8))
                return connection.receive(for: .seconds(5)).bytes.text
            }
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
            #expect(answer.contains("not valid UTF-8"), "\(answer)")
            #expect(try await storedEvents(client.store, environment: "br\u{FFFD}\u{FFFD}anch").isEmpty)
        }
    }

    @Test("control characters are refused in a name, at send as at the gate, and never echoed back")
    func controlCharacters() async throws {
        let client = try makeClient()
        for name in ["bad\u{1B}[31mname", "bell\u{7}", "nul\u{0}", "line\nbreak", "sep\u{2028}arator", "c1\u{85}"] {
            await #expect(throws: EnvironmentNameError.self, "\(name.debugDescription)") {
                try await client.send([Event(name: "a")], environment: name)
            }
            #expect(throws: EnvironmentNameError.self) { try EnvironmentName.validate(name) }
            #expect(try await storedEvents(client.store, environment: name).isEmpty)
        }
        #expect(throws: EnvironmentNameError(reason: "must not contain control characters (found U+001B)")) {
            try EnvironmentName.validate("x\u{1B}")
        }
        // A client configured with such a name sends nothing either.
        let misconfigured = try makeClient(store: client.store as? SQLiteStore, environment: "esc\u{1B}")
        await #expect(throws: EnvironmentNameError.self) { try await misconfigured.send(Event(name: "a")) }
        #expect(try await storedEvents(client.store, environment: "esc\u{1B}").isEmpty)
    }
}
