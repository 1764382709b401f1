import Foundation
import Testing
@testable import Stepwise
import StepwiseHTTP
import StepwiseTesting

@Suite("REST listings: Inngest's shape, bounded pages")
struct ListingTests {
    @Test("an event reads as in Inngest's REST API: internal_id, id (the dedupe key), name, data, user, ts, v, received_at")
    func inngestShape() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: development) { url in
            let full = try await post(
                "\(url)/e/x", #"{"name": "a", "data": {"n": 1}, "user": {"id": "u1"}, "id": "dedupe-1", "ts": 1743130137367, "v": "2025-03-28.1"}"#)
            let bare = try await post("\(url)/e/x", #"{"name": "b", "data": {}}"#)
            let event = try #require(try await get("\(url)/v1/events/\(full.ids[0])").json?["data"])
            #expect(event.objectValue.map { Array($0.keys) } == ["internal_id", "id", "name", "data", "user", "ts", "v", "received_at"])
            #expect(event["internal_id"]?.stringValue == full.ids[0])
            #expect(event["id"] == "dedupe-1")
            #expect(event["user"] == ["id": "u1"])
            #expect(event["ts"] == 1743130137367)
            #expect(event["v"] == "2025-03-28.1")
            #expect(event["received_at"]?.stringValue.flatMap(RESTRepresentation.parseTime) != nil)
            let plain = try #require(try await get("\(url)/v1/events/\(bare.ids[0])").json?["data"])
            #expect(plain.objectValue.map { Array($0.keys) } == ["internal_id", "name", "data", "ts", "received_at"], "no id when none was sent")
            let listed = try await get("\(url)/v1/events").json?["data"]?.arrayValue ?? []
            #expect(listed.compactMap { $0["internal_id"]?.stringValue } == [bare.ids[0], full.ids[0]])
        }
    }

    @Test("a page of events is cut by bytes as well as count, and its cursor continues exactly where it was cut")
    func eventPagesByBytes() async throws {
        let client = try makeClient()
        var ids: [EventID] = []
        for n in 0..<10 {
            ids.append(try await client.send(Event(name: "big", data: ["n": .int(Int64(n)), "padding": .string(String(repeating: "x", count: 20_000))])))
        }
        ids.append(contentsOf: try await client.send((0..<5).map { Event(name: "small", data: ["n": .int(Int64($0))]) }))
        var configuration = development
        configuration.maxPageBytes = 64 << 10
        try await withAPIServer(client: client, configuration: configuration) { url in
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await get("\(url)/v1/events?limit=1000" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == 200)
                #expect(page.body.utf8.count < (64 << 10) + 1024, "a page of \(page.body.utf8.count) bytes")
                let events = page.json?["data"]?.arrayValue ?? []
                #expect(!events.isEmpty)
                seen += events.compactMap { $0["internal_id"]?.stringValue }
                cursor = page.json?["cursor"]?.stringValue
                pages += 1
            } while cursor != nil && pages < 20
            #expect(pages >= 4, "ten events of 20 KB in pages of 64 KiB")
            #expect(seen == ids.reversed().map(\.description), "every event once, in order")
        }
        // One event larger than a page still comes, alone.
        configuration.maxPageBytes = 1000
        try await withAPIServer(client: client, configuration: configuration) { url in
            let page = try await get("\(url)/v1/events?limit=5&name=big")
            #expect(page.json?["data"]?.arrayValue?.count == 1)
            #expect(page.json?["cursor"]?.stringValue != nil)
        }
    }

    @Test("a page of runs is cut by bytes as well as count, and its cursor continues exactly where it was cut")
    func runPagesByBytes() async throws {
        let client = try makeClient()
        try client.createFunction(id: "on-a", trigger: .event("a")) { _, _ in }
        for _ in 0..<12 { try await client.send(Event(name: "a")) }
        var configuration = development
        configuration.maxPageBytes = 1500
        try await withAPIServer(client: client, configuration: configuration) { url in
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await get("\(url)/v1/runs?limit=1000" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == 200)
                #expect(page.body.utf8.count < 1500 + 600, "a page of \(page.body.utf8.count) bytes")
                seen += page.json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                cursor = page.json?["cursor"]?.stringValue
                pages += 1
            } while cursor != nil && pages < 20
            #expect(pages >= 3)
            #expect(seen.count == 12 && Set(seen).count == 12)
            #expect(seen == seen.sorted(by: >), "newest first, none skipped")
        }
    }
}
