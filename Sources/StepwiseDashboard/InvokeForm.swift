import HTTPTypes
import Hummingbird
import Logging
import Stepwise
import StepwiseHTTP

/// One function's page, with a form that invokes it with a payload: the same operation as
/// `POST /v1/functions/{id}/invoke` (``RecordQueries/invoke(function:app:data:)``), so the form
/// refuses what the REST API refuses, in the same words, and keeps what was typed.
enum InvokeForm {
    static let example = "{}"
}

extension DashboardRoutes {
    /// The function `id` of the page's environment: of app `app`, or the only app that
    /// registers one with this id.
    private func function(_ page: PageContext, id: String, app: String?) async throws -> FunctionRecord {
        let matching = try await client.store.functions(environment: page.environment).filter { $0.id == id && (app == nil || $0.appID == app) }
        guard let function = matching.first else {
            let of = app.map { " of app \($0)" } ?? ""
            throw DashboardError(.notFound, "No function \(id)\(of) is registered in environment \(page.environment).")
        }
        guard matching.count == 1 else {
            throw DashboardError(.conflict, "More than one app registers a function \(id): open it from the functions page, which names the app.")
        }
        return function
    }

    func functionPage(_ page: PageContext, id: String, _ query: [String: String]) async throws -> Response {
        let function = try await function(page, id: id, app: query["app"])
        return invokePage(page, function, text: InvokeForm.example, error: nil, status: .ok)
    }

    func invokePage(_ page: PageContext, _ function: FunctionRecord, text: String, error: String?, status: HTTPResponse.Status) -> Response {
        let notice = error.map { Layout.Notice(text: $0, isError: true) }
        let triggers = function.triggers.map(\.description) + function.schedules.map { "cron \($0.expression) (\($0.timeZone))" }
        let body: HTML = """
            <h1>Function <span class="mono">\(function.id)</span></h1>
            <dl class="facts">
            <dt>App</dt><dd>\(function.appID)</dd>
            <dt>Name</dt><dd>\(function.name ?? "—")</dd>
            <dt>Triggers</dt><dd>\(triggers.isEmpty ? "none (invoked only)" : triggers.joined(separator: ", "))</dd>
            <dt>Runs</dt><dd><a href="\(page.link("runs", [("function", function.id)]))">its runs</a></dd>
            </dl>
            <h2>Invoke</h2>
            <p>Starts a run of this function now, whatever its triggers, with this JSON object as its <code>event.data</code>.
            The run's event is a <code>\(SystemEvent.functionInvoked)</code>, stored with the run, in environment
            <strong>\(page.environment)</strong>.</p>
            <form method="post" action="\(page.link("functions/\(PageContext.encode(function.id))/invoke"))">\(page.formFields)
            <input type="hidden" name="app" value="\(function.appID)">
            <textarea name="data" rows="10" aria-label="Payload JSON">\(text)</textarea>
            <p><button type="submit">Invoke \(function.id)</button></p>
            </form>
            """
        return Self.html(Layout.page("Function \(function.id)", page, notice: notice, body), status: status)
    }

    func invoke(_ page: PageContext, id: String, _ form: [String: String], logger: Logger) async throws -> Response {
        let app = form["app"].flatMap { $0.isEmpty ? nil : $0 }
        let function = try await function(page, id: id, app: app)
        let text = form["data"] ?? ""
        let data: JSON
        do {
            data = text.allSatisfy(\.isWhitespace) ? .emptyObject : try JSON(parsing: Array(text.utf8))
        } catch {
            return invokePage(page, function, text: text, error: "The payload is not JSON: \(error)", status: .badRequest)
        }
        let answer: JSON
        do {
            answer = try await RecordQueries(client: client(for: page)).invoke(function: function.id, app: function.appID, data: data)
        } catch let error as APIError {
            if error.status == .notFound || error.status == .conflict { throw DashboardError(error.status, error.message) }
            return invokePage(page, function, text: text, error: error.message, status: error.status)
        }
        let runID = answer["data"]?["id"]?.stringValue ?? ""
        logger.info("dashboard: invoke function", metadata: [
            "function": "\(function.id)", "app": "\(function.appID)", "environment": "\(page.environment)", "run": "\(runID)",
        ])
        return Self.redirect(page.link("runs/\(runID)", [("done", "invoked")]))
    }
}
