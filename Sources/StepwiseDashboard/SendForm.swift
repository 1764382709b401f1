import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Stepwise

/// Sending an event from a form: its JSON as the Event API takes it (one object or an array),
/// checked by the same code, so that a bad event gets the Event API's error, naming the event
/// and the field.
enum SendForm {
    static let example = """
        {
          "name": "app/test.sent",
          "data": {"hello": "world"}
        }
        """
}

extension DashboardRoutes {
    func sendPage(_ page: PageContext, text: String, error: String?, status: HTTPResponse.Status) -> Response {
        let notice = error.map { Layout.Notice(text: $0, isError: true) }
        let body: HTML = """
            <h1>Send an event</h1>
            <p>The event's JSON as the Event API (<code>POST /e/{key}</code>) takes it: one object, or an array of them.
            It goes to environment <strong>\(page.environment)</strong>.</p>
            <form method="post" action="\(page.link("send"))">\(page.formFields)
            <textarea name="event" rows="12" aria-label="Event JSON">\(text)</textarea>
            <p><button type="submit">Send event</button></p>
            </form>
            """
        return Self.html(Layout.page("Send an event", page, notice: notice, body), status: status)
    }

    func send(_ page: PageContext, _ form: [String: String], logger: Logger) async throws -> Response {
        let text = form["event"] ?? ""
        let json: JSON
        do {
            json = try JSON(parsing: Array(text.utf8))
        } catch {
            return sendPage(page, text: text, error: "\(error)", status: .badRequest)
        }
        let ids: [EventID]
        do {
            let events = try Event.batch(fromWireFormat: json)
            ids = try await client(for: page).send(events, environment: page.environment)
        } catch let error as EventValidationError {
            let status: HTTPResponse.Status = switch error.problem {
            case .eventTooLarge, .batchTooLarge: .contentTooLarge
            default: .badRequest
            }
            return sendPage(page, text: text, error: error.description, status: status)
        }
        logger.info("dashboard: sent events", metadata: ["environment": "\(page.environment)", "ids": "\(ids.map(\.description))"])
        if ids.count == 1, let id = ids.first { return Self.redirect(page.link("events/\(id)")) }
        return Self.redirect(page.link("events"))
    }
}
