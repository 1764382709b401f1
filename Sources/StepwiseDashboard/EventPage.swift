import Hummingbird
import Stepwise

/// One event: what was sent, when, and the runs it triggered.
extension DashboardRoutes {
    func eventPage(_ page: PageContext, id text: String) async throws -> Response {
        guard let id = EventID(text) else { throw DashboardError(.badRequest, "'\(text)' is not an event id (a ULID).") }
        guard let event = try await client.store.event(id: id, environment: page.environment) else {
            throw DashboardError(.notFound, "No event \(id) in environment \(page.environment).")
        }
        let runs = try await client.store.runs(RunQuery(environment: page.environment, eventID: id, limit: 100))
        let notRun = try await functionsNotRun(event, runs: runs, page)
        let user: HTML = event.user.map { user in
            "<details><summary>user (kept apart from data; shown to signed-in users)</summary><pre id=\"event-user\">\(Formatting.pretty(user))</pre></details>"
        } ?? .empty
        let body: HTML = """
            <h1>Event <span class="mono">\(event.id)</span></h1>
            <dl class="facts">
            <dt>Name</dt><dd>\(event.name)</dd>
            <dt>Received</dt><dd class="mono">\(Formatting.time(event.receivedAt))</dd>
            <dt>ts</dt><dd class="mono">\(Formatting.time(event.ts))</dd>
            <dt>Dedupe id</dt><dd class="mono">\(event.dedupeID ?? "—")</dd>
            <dt>Version (v)</dt><dd>\(event.v ?? "—")</dd>
            </dl>
            <h2>Data</h2>
            <pre id="event-data">\(Formatting.pretty(event.data))</pre>
            \(user)
            <h2>Runs it triggered</h2>
            \(Self.runsTable(runs, page, showEvent: false))
            \(notRun)
            """
        return Self.html(Layout.page("Event \(event.name)", page, body))
    }

    /// The functions whose trigger matches the event's name but that have no run of it, each
    /// with the reason the store's records give: the admission record flow control kept (a
    /// trigger's `if`, a rate limit, a debounce, a batch, a singleton), registered after the
    /// event arrived, or (the rest) a trigger's path conditions, which no record keeps.
    private func functionsNotRun(_ event: StoredEvent, runs: [RunRecord], _ page: PageContext) async throws -> HTML {
        let ran = Set(runs.map(\.functionID))
        let records = Dictionary(
            try await client.store.admissions(eventID: event.id, environment: page.environment).map { ($0.functionID, $0) },
            uniquingKeysWith: { first, _ in first })
        let matching = try await client.store.functions(environment: page.environment).filter { function in
            !ran.contains(function.id) && function.triggers.contains { $0.matches(event.name) }
        }
        guard !matching.isEmpty else { return .empty }
        let items = HTML.join(matching.map { function in
            let why: String
            if let record = records[function.id] {
                why = "\(record.reason.rawValue): \(record.detail)"
            } else if function.registeredAt > event.receivedAt {
                why = "its app last registered it after the event arrived (\(Formatting.time(function.registeredAt))): it was likely not registered yet"
            } else {
                why = "its trigger matches the name, but no run was started (a condition of the trigger did not hold)"
            }
            return "<li data-not-run=\"\(function.id)\"><strong>\(function.id)</strong>: \(why)</li>"
        })
        return "<h2>Functions that did not run</h2><ul>\(items)</ul>"
    }
}
