import Hummingbird
import Stepwise
import StepwiseHTTP

/// The events stream: newest first, a page by cursor, with search by id, name, receive time
/// and data. The first page follows new events live (its rows are a `data-live` region).
extension DashboardRoutes {
    /// Events per page.
    static let eventsPerPage = 50
    /// The most events one data search reads before it answers with what it found and a
    /// cursor to search on: no store reads an event's data by index, so a search is a scan,
    /// and a scan is held to pages.
    static let dataSearchScanLimit = 1000

    func eventsPage(_ page: PageContext, _ query: [String: String]) async throws -> Response {
        let search = (query["q"] ?? "").trimmingCharacters(in: .whitespaces)
        if let id = EventID(search) { return Self.redirect(page.link("events/\(id)")) }
        let name = search.isEmpty ? nil : search
        let dataSearch = (query["data"] ?? "").isEmpty ? nil : query["data"]
        let since = try Self.time(query["since"], "since"), until = try Self.time(query["until"], "until")
        var cursor: EventCursor?
        if let text = query["cursor"], !text.isEmpty {
            guard let parsed = EventCursor(rawValue: text) else { throw DashboardError(.badRequest, "cursor: not a cursor this page gave") }
            cursor = parsed
        }
        let found = try await readEvents(page, name: name, since: since, until: until, data: dataSearch, cursor: cursor)
        let rows = Self.eventRows(found.events, page)
        let filters: [(String, String?)] = [("q", search), ("since", query["since"]), ("until", query["until"]), ("data", dataSearch)]
        if query["fragment"] == "rows" { return Self.html(rows) }
        let live: HTML = cursor == nil
            ? "data-live=\"\(page.link("events", filters + [("fragment", "rows")]))\" data-interval=\"\(page.liveInterval)\""
            : .empty
        let next: HTML = found.next.map { next in
            "<a rel=\"next\" href=\"\(page.link("events", filters + [("cursor", next.rawValue)]))\">Older events →</a>"
        } ?? "<span class=\"muted\">No older events.</span>"
        let scanned: HTML = dataSearch == nil ? .empty
            : "<p class=\"muted\">Data search read \(found.scanned) events for this page; “Older events” searches on from there.</p>"
        let unreadable: HTML = found.unreadable == 0 ? .empty
            : "<p class=\"notice error\">\(found.unreadable) events on this page could not be read and are left out.</p>"
        let body: HTML = """
            <h1>Events</h1>
            <form class="filters" method="get" action="\(page.link("events"))">
            \(page.isServedEnvironment ? HTML.empty : "<input type=\"hidden\" name=\"env\" value=\"\(page.environment)\">")
            <label>Event id or name<input name="q" value="\(search)" placeholder="01J… or app/user.created"></label>
            <label>Received since<input name="since" value="\(query["since"] ?? "")" placeholder="2026-12-01T00:00:00Z"></label>
            <label>until<input name="until" value="\(query["until"] ?? "")" placeholder="RFC 3339 or ms"></label>
            <label>Data contains<input name="data" value="\(dataSearch ?? "")" placeholder="ed12c8bde"></label>
            <button type="submit">Search</button> <a href="\(page.link("events"))">Clear</a>
            </form>
            \(scanned)\(unreadable)
            <table id="events"><thead><tr><th>Received</th><th>Name</th><th>Id</th><th>Data</th></tr></thead>
            <tbody id="event-rows" \(live)>\(rows)</tbody></table>
            <p class="pager">\(next)</p>
            """
        return Self.html(Layout.page("Events", page, body))
    }

    static func eventRows(_ events: [StoredEvent], _ page: PageContext) -> HTML {
        guard !events.isEmpty else { return "<tr><td colspan=\"4\" class=\"muted\">No events.</td></tr>" }
        return HTML.join(events.map { event in
            """
            <tr data-event-id="\(event.id)"><td class="mono">\(Formatting.time(event.receivedAt))</td><td>\(event.name)</td>
            <td class="mono"><a href="\(page.link("events/\(event.id)"))">\(event.id)</a></td>
            <td class="mono">\(Formatting.preview(event.data))</td></tr>
            """
        })
    }

    private struct FoundEvents {
        var events: [StoredEvent] = []
        var next: EventCursor?
        var scanned = 0
        var unreadable = 0
    }

    /// A page of events; with a data search, the matches among at most
    /// ``dataSearchScanLimit`` events read, and the cursor where the scan stopped.
    private func readEvents(
        _ page: PageContext, name: String?, since: Int64?, until: Int64?, data: String?, cursor: EventCursor?
    ) async throws -> FoundEvents {
        var found = FoundEvents()
        var position = cursor
        repeat {
            let chunk: EventPage
            do {
                chunk = try await client.store.events(try EventQuery(
                    environment: page.environment, name: name, since: since, until: until,
                    limit: data == nil ? Self.eventsPerPage : 200, cursor: position).validated())
            } catch let error as EventQueryError {
                throw DashboardError(.badRequest, error.description)
            }
            found.unreadable += chunk.unreadable.count
            found.scanned += chunk.events.count + chunk.unreadable.count
            if let data {
                for (index, event) in chunk.events.enumerated() where event.data.serialized.contains(data) {
                    found.events.append(event)
                    if found.events.count == Self.eventsPerPage {
                        let more = index < chunk.events.count - 1 || chunk.nextCursor != nil
                        found.next = more ? EventCursor(receivedAt: event.receivedAt, eventID: event.id) : nil
                        return found
                    }
                }
            } else {
                found.events = chunk.events
            }
            found.next = chunk.nextCursor
            position = chunk.nextCursor
        } while data != nil && position != nil && found.scanned < Self.dataSearchScanLimit
        return found
    }

    /// A time parameter: RFC 3339 or milliseconds since the epoch.
    static func time(_ text: String?, _ name: String) throws -> Int64? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        guard let time = RESTRepresentation.parseTime(text) else {
            throw DashboardError(.badRequest, "\(name): must be an RFC 3339 time (2026-12-01T09:30:00Z) or milliseconds since the epoch, not '\(text)'")
        }
        return time
    }
}
