import Hummingbird
import Stepwise

/// The functions apps registered in the environment: their triggers, schedules and options,
/// and how many of their newest runs are queued, running or failed (a bounded read).
extension DashboardRoutes {
    func functionsPage(_ page: PageContext) async throws -> Response {
        let functions = try await client.store.functions(environment: page.environment)
        var rows: [HTML] = []
        for function in functions {
            let tally = try await statusCounts(page, function: function.id, before: nil)
            var counts: [HTML] = []
            for status in [RunStatus.queued, .running, .failed] {
                counts.append("<a href=\"\(page.link("runs", [("function", function.id), ("status", status.rawValue)]))\" data-count=\"\(status.rawValue)\">\(status.rawValue) \(tally.counts[status] ?? 0)</a> ")
            }
            if !tally.isComplete { counts.append("<span class=\"muted\">of its newest \(tally.read) runs</span>") }
            let triggers = function.triggers.map(\.description) + function.schedules.map { "cron \($0.expression) (\($0.timeZone)), next \(Formatting.time($0.nextAt))" }
            rows.append("""
                <tr data-function="\(function.id)"><td><a href="\(page.link("functions/\(PageContext.encode(function.id))", [("app", function.appID)]))">\(function.id)</a><br><span class="muted">\(function.name ?? "")</span></td>
                <td>\(function.appID)</td><td>\(HTML.join(triggers.map { "<div class=\"mono\">\($0)</div>" }))</td>
                <td><pre>\(Formatting.pretty(function.settings.json))</pre></td><td class="counts">\(counts)</td>
                <td class="mono">\(Formatting.time(function.registeredAt))</td></tr>
                """)
        }
        let table: HTML = functions.isEmpty
            ? "<p class=\"muted\">No app registered functions in this environment yet: start a worker on this store.</p>"
            : """
              <table><thead><tr><th>Function</th><th>App</th><th>Triggers</th><th>Options</th><th>Runs</th><th>Registered</th></tr></thead>
              <tbody>\(rows)</tbody></table>
              """
        let body: HTML = "<h1>Functions</h1>\(table)"
        return Self.html(Layout.page("Functions", page, body))
    }

    /// The environments of the store: the served one, those configured, and every one in use
    /// (``Store/environments()``, one index probe each), each with what it is.
    func environmentsPage(_ page: PageContext) async throws -> Response {
        let served = client.configuration.environment
        let inUse = Set(try await client.store.environments())
        let configured = Set(configuration.environments)
        let names = [served] + inUse.union(configured).filter { $0 != served }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let rows = HTML.join(names.map { name in
            let context = PageContext(
                base: page.base, environment: name, isServedEnvironment: name == served, access: page.access, csrfToken: page.csrfToken,
                isDevelopment: page.isDevelopment, now: page.now)
            var notes: [String] = []
            if name == served { notes.append("this server's own") }
            if configured.contains(name) { notes.append("configured") }
            notes.append(inUse.contains(name) ? "in use" : "nothing stored yet")
            return """
                <tr data-environment="\(name)"><td><a href="\(context.link("events"))">\(name)</a></td>
                <td><a href="\(context.link("runs"))">runs</a> · <a href="\(context.link("functions"))">functions</a></td>
                <td class="muted">\(notes.joined(separator: ", "))</td></tr>
                """
        })
        let body: HTML = """
            <h1>Environments</h1>
            <p>Branch environments share this store; each page shows one, chosen by its <code>env</code> parameter
            (as the Event API's <code>x-inngest-env</code> header chooses one). An environment is in use once an event
            was stored in it or an app registered functions in it.</p>
            <table class="environments"><thead><tr><th>Environment</th><th>Pages</th><th></th></tr></thead>
            <tbody>\(rows)</tbody></table>
            <form class="filters" method="get" action="\(page.link("events"))">
            <label>Open an environment by name<input name="env" placeholder="branch-name"></label><button type="submit">Open</button></form>
            """
        return Self.html(Layout.page("Environments", page, body))
    }
}
