import Hummingbird
import Logging
import Stepwise

/// Cancelling and rerunning runs, one at a time or all that a filter selects. Each answers a
/// 303 to the page that shows the outcome, and leaves a line in the log.
extension DashboardRoutes {
    /// The most runs one bulk action changes: it reads them by cursor, and a larger selection
    /// is carried out by repeating the action.
    static let bulkLimit = 1000

    func cancel(_ page: PageContext, id text: String, logger: Logger) async throws -> Response {
        guard let id = RunID(text) else { throw DashboardError(.badRequest, "'\(text)' is not a run id (a ULID).") }
        guard try await client.store.run(id: id, environment: page.environment) != nil else {
            throw DashboardError(.notFound, "No run \(id) in environment \(page.environment).")
        }
        let cancelled = try await client(for: page).cancelRun(id)
        logger.info("dashboard: cancel run", metadata: ["run": "\(id)", "environment": "\(page.environment)", "cancelled": "\(cancelled)"])
        return Self.redirect(page.link("runs/\(id)", [("done", cancelled ? "cancelled" : "ended")]))
    }

    func rerun(_ page: PageContext, id text: String, logger: Logger) async throws -> Response {
        guard let id = RunID(text) else { throw DashboardError(.badRequest, "'\(text)' is not a run id (a ULID).") }
        do {
            guard let run = try await client(for: page).rerun(id) else {
                throw DashboardError(.notFound, "No run \(id) in environment \(page.environment).")
            }
            logger.info("dashboard: rerun run", metadata: ["run": "\(id)", "rerun": "\(run.id)", "environment": "\(page.environment)"])
            return Self.redirect(page.link("runs/\(run.id)", [("done", "rerun")]))
        } catch let error as RerunError {
            throw DashboardError(.conflict, error.description)
        }
    }

    /// The runs a bulk action would change: matching the filter, newest first, at most
    /// ``bulkLimit``; for a cancel, only those that have not ended.
    private func selection(_ page: PageContext, _ filter: RunFilter, cancelling: Bool) async throws -> [RunRecord] {
        var selected: [RunRecord] = []
        var before = filter.upperBound
        reading: while selected.count < Self.bulkLimit {
            let chunk = try await client.store.runs(RunQuery(
                environment: page.environment, functionID: filter.function, status: filter.status, limit: 500, before: before))
            for run in chunk {
                if let since = filter.since, run.createdAt < since { break reading }
                if !cancelling || !run.status.isFinal { selected.append(run) }
                if selected.count == Self.bulkLimit { break reading }
            }
            guard chunk.count == 500, let last = chunk.last else { break }
            before = last.id
        }
        return selected
    }

    func bulkConfirmation(_ page: PageContext, _ query: [String: String]) async throws -> Response {
        let filter = try RunFilter(query)
        let cancelling = try Self.bulkAction(query["action"])
        let runs = try await selection(page, filter, cancelling: cancelling)
        let verb = cancelling ? "cancel" : "rerun"
        let described = [filter.status.map { "status \($0.rawValue)" }, filter.function.map { "function \($0)" },
                         query["since"].flatMap { $0.isEmpty ? nil : "created since \($0)" },
                         query["until"].flatMap { $0.isEmpty ? nil : "created until \($0)" }].compactMap { $0 }
        let hidden = HTML.join(filter.parameters().compactMap { name, value in
            value.map { "<input type=\"hidden\" name=\"\(name)\" value=\"\($0)\">" as HTML }
        })
        let limitNote: HTML = runs.count == Self.bulkLimit ? " (the most one action takes; repeat it for the rest)" : .empty
        let body: HTML = """
            <h1>\(cancelling ? "Cancel" : "Rerun") runs</h1>
            <p>This will \(verb) <strong id="bulk-count">\(runs.count)</strong> runs\(limitNote):
            \(described.isEmpty ? "every run" : described.joined(separator: ", "))\(cancelling ? ", of those that have not ended" : "").</p>
            <form method="post" action="\(page.link("runs/bulk"))">\(page.formFields)\(hidden)
            <input type="hidden" name="action" value="\(verb)"><input type="hidden" name="expected" value="\(runs.count)">
            <button type="submit" class="danger">\(cancelling ? "Cancel" : "Rerun") \(runs.count) runs</button>
            <a href="\(page.link("runs", filter.parameters()))">Back</a>
            </form>
            """
        return Self.html(Layout.page("Confirm", page, body))
    }

    func bulk(_ page: PageContext, _ form: [String: String], logger: Logger) async throws -> Response {
        let filter = try RunFilter(form)
        let cancelling = try Self.bulkAction(form["action"])
        let runs = try await selection(page, filter, cancelling: cancelling)
        let actor = client(for: page)
        var changed = 0, skipped = 0
        for run in runs {
            if cancelling {
                if try await actor.cancelRun(run.id) { changed += 1 } else { skipped += 1 }
            } else {
                do {
                    if try await actor.rerun(run.id) != nil { changed += 1 } else { skipped += 1 }
                } catch is RerunError {
                    skipped += 1
                }
            }
        }
        logger.info("dashboard: bulk \(cancelling ? "cancel" : "rerun")", metadata: [
            "environment": "\(page.environment)", "status": "\(filter.status?.rawValue ?? "any")", "function": "\(filter.function ?? "any")",
            "expected": "\(form["expected"] ?? "?")", "changed": "\(changed)", "skipped": "\(skipped)",
        ])
        return Self.redirect(page.link("runs", filter.parameters() + [("done", cancelling ? "bulk-cancelled" : "bulk-rerun"), ("n", "\(changed)")]))
    }

    private static func bulkAction(_ text: String?) throws -> Bool {
        switch text {
        case "cancel": return true
        case "rerun": return false
        default: throw DashboardError(.badRequest, "action: must be cancel or rerun, not '\(text ?? "")'")
        }
    }
}
