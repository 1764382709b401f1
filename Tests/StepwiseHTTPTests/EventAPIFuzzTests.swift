import Foundation
import Testing
import NIOHTTP1
@testable import Stepwise
import StepwiseHTTP

/// A small, seedable generator (SplitMix64), so that a failing body can be made again from
/// the seed the test prints.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Bodies that must all be refused: random bytes, deep nesting, huge strings, invalid UTF-8,
/// wrong types, and truncations of valid bodies.
enum HostileBodies {
    static let validBodies = [
        #"{"name": "a", "data": {"k": "v", "n": [1, 2.5, true, null]}, "user": {"id": 1}, "id": "d", "ts": 1800000000000, "v": "1"}"#,
        #"[{"name": "a", "data": {}}, {"name": "b", "data": {"nested": {"deep": [[[]]]}}}]"#,
    ]

    static func make(count: Int, generator: inout SeededGenerator) -> [(kind: String, body: [UInt8])] {
        var bodies: [(String, [UInt8])] = []
        // Fixed cases first: each kind at least once.
        bodies.append(("deep arrays", Array(repeating: UInt8(ascii: "["), count: 100_000)))
        bodies.append(("deep objects", Array((String(repeating: #"{"a":"#, count: 5000) + "1" + String(repeating: "}", count: 5000)).utf8)))
        bodies.append(("deep data", Array((#"{"name": "x", "data": "# + String(repeating: #"{"a":"#, count: 300) + "1"
            + String(repeating: "}", count: 300) + "}").utf8)))
        bodies.append(("huge string", Array((#"{"name": "x", "data": {"s": ""# + String(repeating: "x", count: 2 << 20) + #""}}"#).utf8)))
        bodies.append(("event over its limit", Array((#"{"name": "x", "data": {"s": ""# + String(repeating: "x", count: 600_000) + #""}}"#).utf8)))
        bodies.append(("huge name", Array((#"{"name": ""# + String(repeating: "n", count: 300_000) + #""}"#).utf8)))
        for invalid: [UInt8] in [[0xC3, 0x28], [0xA0, 0xA1], [0xE2, 0x28, 0xA1], [0xF0, 0x28, 0x8C, 0xBC], [0xC0, 0xAF],
                                 [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFF], [0xFE, 0xFF]] {
            bodies.append(("invalid UTF-8 in a string", Array(#"{"name": "a"#.utf8) + invalid + Array(#""}"#.utf8)))
            bodies.append(("invalid UTF-8 outside strings", Array(#"{"name": "a", "#.utf8) + invalid + Array(#": 1}"#.utf8)))
        }
        for escape in [#"\ud800"#, #"\udc00x"#, #"\u12"#, #"\x41"#, "\u{0001}"] {
            bodies.append(("bad escape", Array(#"{"name": "a\#(escape)", "data": {}}"#.utf8)))
        }
        let wrongTypes = [
            #"{"name": ["a"]}"#, #"{"name": {"a": 1}}"#, #"{"name": true}"#, #"{"name": null}"#, #"{"name": 1e400}"#,
            #"{"name": "a", "data": 5}"#, #"{"name": "a", "data": "text"}"#, #"{"name": "a", "data": [1]}"#, #"{"name": "a", "data": true}"#,
            #"{"name": "a", "user": []}"#, #"{"name": "a", "ts": "now"}"#, #"{"name": "a", "ts": -1}"#, #"{"name": "a", "ts": 1e30}"#,
            #"{"name": "a", "ts": 99999999999999999999999}"#, #"{"name": "a", "id": {"x": 1}}"#, #"{"name": "a", "v": 2}"#,
            #"[1, 2, 3]"#, #"[[{"name": "a", "data": {}}]]"#, #"null"#, #"true"#, #"42"#, #""name""#, #"[{"name": "a", "data": {}}, null]"#, "", " ", "\u{FEFF}{}",
            #"{"name": "a", "data": {}} {"name": "b", "data": {}}"#, #"{"name": "a",}"#, #"{'name': 'a'}"#, #"{name: "a"}"#, #"{"name": "a" "data": {}}"#,
        ]
        bodies += wrongTypes.map { ("wrong type or syntax", Array($0.utf8)) }
        while bodies.count < count {
            switch generator.next() % 3 {
            case 0:
                let length = Int(generator.next() % 2048)
                bodies.append(("random bytes", (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }))
            case 1:
                let valid = Array(validBodies[Int(generator.next() % UInt64(validBodies.count))].utf8)
                let cut = Int(generator.next() % UInt64(valid.count - 1))
                bodies.append(("truncated", Array(valid[..<cut])))
            default:
                // Random JSON-ish tokens: mostly syntax errors, sometimes a value of the wrong shape.
                let tokens = ["{", "}", "[", "]", ",", ":", #""name""#, #""data""#, "1", "-0.5e3", "true", "null", #""\u0000""#, #""""#, " "]
                let length = Int(generator.next() % 40) + 1
                let text = (0..<length).map { _ in tokens[Int(generator.next() % UInt64(tokens.count))] }.joined()
                // An empty array is a valid batch of no events (200, nothing stored), drawn about
                // once in fifty runs: not a hostile body.
                if text.filter({ $0 != " " }) == "[]" { continue }
                bodies.append(("random tokens", Array(text.utf8)))
            }
        }
        return bodies
    }
}

@Suite("Event API fuzzing")
struct EventAPIFuzzTests {
    @Test("hostile bodies are refused with 400 or 413, never crash the server, and store nothing")
    func hostileBodies() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["STEPWISE_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        print("Event API fuzz seed: \(seed) (STEPWISE_FUZZ_SEED=\(seed) repeats this run)")
        var generator = SeededGenerator(state: seed)
        let bodies = HostileBodies.make(count: 600, generator: &generator)
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: production) { url in
            // Eight at a time, as clients would.
            try await withThrowingTaskGroup(of: (String, [UInt8], Answer).self) { group in
                var next = 0
                func submit() {
                    guard next < bodies.count else { return }
                    let (kind, body) = bodies[next]
                    next += 1
                    group.addTask { (kind, body, try await request(.POST, "\(url)/e/key-one", body: body)) }
                }
                for _ in 0..<8 { submit() }
                while let (kind, body, answer) = try await group.next() {
                    let shown = String(decoding: body.prefix(80), as: UTF8.self)
                    #expect([400, 413].contains(answer.status), "\(kind): \(shown) → \(answer.status) \(answer.body.prefix(200))")
                    #expect(answer.json?["status"]?.intValue == Int64(answer.status), "\(kind): \(shown)")
                    #expect(answer.error?.isEmpty == false, "\(kind): \(shown)")
                    submit()
                }
            }
            #expect(try await storedEvents(client.store).isEmpty, "no hostile body stored anything")
            // The server is still up, and still stores a good event.
            let good = try await post("\(url)/e/key-one", HostileBodies.validBodies[1])
            #expect(good.status == 200)
            #expect(try await storedEvents(client.store).count == 2)
        }
    }
}
