import Hummingbird
import Stepwise

/// Runs, newest first, a page by cursor, filtered by status, function and creation time, with
/// a count per status and the bulk actions on what the filter selects.
extension DashboardRoutes {
    static let runsPerPage = 50
    /// The newest runs the counts are taken over: the store has no count read, and a count by
    /// listing must stay a bounded read however many runs there are.
    static let countSample = 1000

    func runsPage(_ page: PageContext, _ query: [String: String]) async throws -> Response {
        let filter = try RunFilter(query)
        var before = filter.upperBound
        if let text = query["cursor"], !text.isEmpty {
            guard let cursor = RunID(text) else { throw DashboardError(.badRequest, "cursor: not a cursor this page gave") }
            before = before.map { min($0, cursor) } ?? cursor
        }
        let read = try await client.store.runs(RunQuery(
            environment: page.environment, functionID: filter.function, status: filter.status, limit: Self.runsPerPage + 1, before: before))
        var runs = Array(read.prefix(Self.runsPerPage))
        var more = read.count > Self.runsPerPage
        if let since = filter.since, let index = runs.firstIndex(where: { $0.createdAt < since }) {
            runs = Array(runs[..<index])
            more = false
        }
        let table = Self.runsTable(runs, page, showEvent: true)
        if query["fragment"] == "rows" { return Self.html(table) }
        let tally = try await statusCounts(page, function: filter.function, before: filter.upperBound, since: filter.since)
        let counts = RunStatus.allCases.map { status -> HTML in
            "<a href=\"\(page.link("runs", filter.parameters(status: status)))\" data-count=\"\(status.rawValue)\">\(status.rawValue) <strong>\(tally.counts[status] ?? 0)</strong></a>"
        }
        let countsNote: HTML = tally.isComplete
            ? "<span class=\"muted\" id=\"counts-note\">(exact: every run of this function and time range)</span>"
            : "<span class=\"muted\" id=\"counts-note\">(counted over the newest \(tally.read) runs of this function and time range only: older runs are not counted)</span>"
        let next: HTML = more && !runs.isEmpty
            ? "<a rel=\"next\" href=\"\(page.link("runs", filter.parameters() + [("cursor", runs[runs.count - 1].id.description)]))\">Older runs →</a>"
            : "<span class=\"muted\">No older runs.</span>"
        let statusOptions = HTML.join([("", "any status")] .map { value, label in "<option value=\"\(value)\">\(label)</option>" as HTML }
            + RunStatus.allCases.map { status in
                filter.status == status
                    ? "<option value=\"\(status.rawValue)\" selected>\(status.rawValue)</option>"
                    : "<option value=\"\(status.rawValue)\">\(status.rawValue)</option>"
            })
        let live: HTML = query["cursor"] == nil
            ? "data-live=\"\(page.link("runs", filter.parameters() + [("fragment", "rows")]))\" data-interval=\"\(page.liveInterval)\""
            : .empty
        let body: HTML = """
            <h1>Runs</h1>
            <form class="filters" method="get" action="\(page.link("runs"))">
            \(page.isServedEnvironment ? HTML.empty : "<input type=\"hidden\" name=\"env\" value=\"\(page.environment)\">")
            <label>Status<select name="status">\(statusOptions)</select></label>
            <label>Function<input name="function" value="\(filter.function ?? "")" placeholder="send-receipt"></label>
            <label>Created since<input name="since" value="\(query["since"] ?? "")" placeholder="RFC 3339 or ms"></label>
            <label>until<input name="until" value="\(query["until"] ?? "")" placeholder="RFC 3339 or ms"></label>
            <button type="submit">Filter</button> <a href="\(page.link("runs"))">Clear</a>
            </form>
            <p class="counts">\(counts) \(countsNote)</p>
            <p>Of the runs this filter selects:
            <a href="\(page.link("runs/bulk", filter.parameters() + [("action", "cancel")]))">cancel them…</a> ·
            <a href="\(page.link("runs/bulk", filter.parameters() + [("action", "rerun")]))">rerun them…</a></p>
            <div id="run-rows" \(live)>\(table)</div>
            <p class="pager">\(next)</p>
            """
        let changed = query["n"].flatMap { Int($0) } ?? 0
        let notice: Layout.Notice? = switch query["done"] {
        case "bulk-cancelled": Layout.Notice(text: "Cancelled \(changed) runs.", isError: false)
        case "bulk-rerun": Layout.Notice(text: "Queued \(changed) reruns.", isError: false)
        default: nil
        }
        return Self.html(Layout.page("Runs", page, notice: notice, body))
    }

    /// How many of the newest runs (of a function, or of all, created in the filter's time
    /// range) have each status: one read of at most ``countSample`` runs by id, the index every
    /// listing uses, so its cost does not grow with the store. Exact when the filter selects
    /// fewer runs (`isComplete`); otherwise the page says which runs were counted. An exact
    /// count would read every index entry of a status (a million queued runs, a million
    /// entries), past the page's budget of 100 ms; the store has no count read either.
    func statusCounts(
        _ page: PageContext, function: String?, before: RunID?, since: Int64? = nil
    ) async throws -> (counts: [RunStatus: Int], read: Int, isComplete: Bool) {
        let runs = try await client.store.runs(RunQuery(environment: page.environment, functionID: function, limit: Self.countSample, before: before))
        var counts: [RunStatus: Int] = [:]
        var read = 0
        for run in runs {
            if let since, run.createdAt < since { return (counts, read, true) }
            counts[run.status, default: 0] += 1
            read += 1
        }
        return (counts, read, runs.count < Self.countSample)
    }

    static func runsTable(_ runs: [RunRecord], _ page: PageContext, showEvent: Bool) -> HTML {
        guard !runs.isEmpty else { return "<p class=\"muted\">No runs.</p>" }
        let rows = HTML.join(runs.map { run in
            let event: HTML = showEvent ? "<td class=\"mono\"><a href=\"\(page.link("events/\(run.eventID)"))\">\(run.eventID)</a></td>" : .empty
            let duration = run.endedAt.map { Formatting.duration($0 - (run.startedAt ?? run.createdAt)) } ?? ""
            return """
                <tr data-run-id="\(run.id)"><td>\(Layout.status(run.status.rawValue))</td>
                <td class="mono"><a href="\(page.link("runs/\(run.id)"))">\(run.id)</a></td>
                <td><a href="\(page.link("runs", [("function", run.functionID)]))">\(run.functionID)</a> <span class="muted">\(run.appID)</span></td>
                \(event)<td class="mono">\(Formatting.time(run.createdAt))</td><td class="mono">\(Formatting.time(run.endedAt))</td><td>\(duration)</td></tr>
                """
        })
        let eventHeader: HTML = showEvent ? "<th>Event</th>" : .empty
        return """
            <table class="runs"><thead><tr><th>Status</th><th>Run</th><th>Function</th>\(eventHeader)<th>Created</th><th>Ended</th><th>Took</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """
    }
}
