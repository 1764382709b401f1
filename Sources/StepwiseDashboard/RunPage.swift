import HTTPTypes
import Hummingbird
import Stepwise

/// One run: its facts, the actions on it, and its step timeline — every attempt of every step
/// as a bar on one time axis from the run's creation, sleeps, waits and invokes as bars to
/// their deadlines — followed by each step's output or error. While the run has not ended the
/// timeline is a live region: it fills in as steps commit.
extension DashboardRoutes {
    func runPage(_ page: PageContext, id text: String, _ query: [String: String]) async throws -> Response {
        guard let id = RunID(text) else { throw DashboardError(.badRequest, "'\(text)' is not a run id (a ULID).") }
        guard let run = try await client.store.run(id: id, environment: page.environment) else {
            throw DashboardError(.notFound, "No run \(id) in environment \(page.environment).")
        }
        let steps = try await client.store.steps(runID: id)
        let attempts = StepAttempt.timeline(steps: steps, recorded: try await client.store.attempts(runID: id))
        // Only its name, to say how the run started: a read by id, whose `user` stays sealed.
        let startedBy = try? await client.store.event(id: run.eventID, environment: page.environment)?.name
        let details = Self.runDetails(run, steps: steps, attempts: attempts, startedBy: startedBy, page)
        let liveHeader: HTTPFields = run.status.isFinal ? [HTTPField.Name("X-Stepwise-Live")!: "done"] : [:]
        if query["fragment"] == "details" { return Self.html(details, headers: liveHeader) }
        let notice: Layout.Notice? = switch query["done"] {
        case "cancelled": Layout.Notice(text: "The run was cancelled.", isError: false)
        case "ended": Layout.Notice(text: "The run had already ended; nothing was cancelled.", isError: true)
        case "rerun": Layout.Notice(text: "This run was queued as a rerun of \(run.rerunOf?.description ?? "another run").", isError: false)
        case "invoked": Layout.Notice(text: "The function was invoked: this run is queued for a worker.", isError: false)
        default: nil
        }
        // Only a run that has not ended can be cancelled; a run that ends while the page is open
        // keeps the button, and cancelling it then says it had ended.
        let cancel: HTML = run.status.isFinal ? .empty : """
            <form class="inline" method="post" action="\(page.link("runs/\(run.id)/cancel"))">\(page.formFields)<button type="submit" class="danger" name="do" value="cancel">Cancel run</button></form>
            """
        let live: HTML = run.status.isFinal ? .empty : "data-live=\"\(page.link("runs/\(run.id)", [("fragment", "details")]))\" data-interval=\"1000\""
        let body: HTML = """
            <h1>Run <span class="mono">\(run.id)</span></h1>
            <p>
            \(cancel)
            <form class="inline" method="post" action="\(page.link("runs/\(run.id)/rerun"))">\(page.formFields)<button type="submit" name="do" value="rerun">Rerun</button></form>
            </p>
            <div id="run-details" \(live)>\(details)</div>
            """
        return Self.html(Layout.page("Run \(run.functionID)", page, notice: notice, body))
    }

    /// - Parameter startedBy: the name of the run's event, when it could be read.
    static func runDetails(_ run: RunRecord, steps: [StepRecord], attempts: [StepAttempt], startedBy: String?, _ page: PageContext) -> HTML {
        let rerunOf: HTML = run.rerunOf.map { "<dt>Rerun of</dt><dd class=\"mono\"><a href=\"\(page.link("runs/\($0)"))\">\($0)</a></dd>" } ?? .empty
        let output: HTML = run.output.map { "<h2>Output</h2><pre id=\"run-output\">\(Formatting.pretty($0))</pre>" } ?? .empty
        let error: HTML = run.error.map { error in "<h2>Error</h2>\(Layout.error(error))" } ?? .empty
        return """
            <dl class="facts">
            <dt>Status</dt><dd id="run-status">\(Layout.status(run.status.rawValue)) \(why(run, steps))</dd>
            <dt>Function</dt><dd><a href="\(page.link("runs", [("function", run.functionID)]))">\(run.functionID)</a> <span class="muted">app \(run.appID)</span></dd>
            <dt>Event</dt><dd class="mono"><a href="\(page.link("events/\(run.eventID)"))">\(run.eventID)</a>\(run.eventCount > 1 ? " and \(run.eventCount - 1) more" : "")\(startedBy.map { " \($0)" } ?? "")</dd>
            \(startedBy == SystemEvent.functionInvoked ? "<dt>Started by</dt><dd id=\"run-invoked\">an invoke: its event's data is the payload it was invoked with</dd>" as HTML : .empty)
            \(rerunOf)
            <dt>Created</dt><dd class="mono">\(Formatting.time(run.createdAt))</dd>
            <dt>Started</dt><dd class="mono">\(Formatting.time(run.startedAt))</dd>
            <dt>Ended</dt><dd class="mono">\(Formatting.time(run.endedAt))</dd>
            <dt>Function attempts failed</dt><dd>\(run.attempt)</dd>
            </dl>
            \(output)\(error)
            <h2>Timeline</h2>
            \(timeline(run, steps: steps, attempts: attempts, now: page.now))
            <h2>Steps</h2>
            \(HTML.join(steps.map { step in stepDetails(step, page) }))
            \(steps.isEmpty ? "<p class=\"muted\">No step recorded yet.</p>" as HTML : .empty)
            """
    }

    /// Why a run that is set aside is: what it sleeps or waits for, and until when.
    private static func why(_ run: RunRecord, _ steps: [StepRecord]) -> HTML {
        switch run.status {
        case .sleeping, .waiting:
            guard let step = steps.last(where: { $0.status == .waiting }) else { return .empty }
            let until = Formatting.time(step.until ?? run.availableAt)
            switch step.kind {
            case .sleep: return "<span class=\"muted\">sleeps in step “\(step.stepID)” until \(until)</span>"
            case .invoke: return "<span class=\"muted\">waits in step “\(step.stepID)” for the invoked run, until \(until)</span>"
            default: return "<span class=\"muted\">waits in step “\(step.stepID)” for an event, until \(until)</span>"
            }
        case .queued where run.availableAt.map({ $0 > run.createdAt }) == true && run.attempt > 0:
            return "<span class=\"muted\">to be retried at \(Formatting.time(run.availableAt))</span>"
        default:
            return .empty
        }
    }

    /// One lane per attempt (and per sleep, wait or invoke), each bar an SVG rectangle placed
    /// on the run's time axis (0 to 1000): no script draws it.
    private static func timeline(_ run: RunRecord, steps: [StepRecord], attempts: [StepAttempt], now: Int64) -> HTML {
        struct Lane { let label: String; let start: Int64; let end: Int64; let kind: String; let note: String }
        var byKey: [String: [StepAttempt]] = [:]
        for attempt in attempts { byKey[attempt.key, default: []].append(attempt) }
        var lanes: [Lane] = []
        for step in steps {
            switch step.kind {
            case .run, .sendEvent:
                for attempt in byKey[step.key] ?? [] {
                    lanes.append(Lane(
                        label: "\(step.stepID) #\(attempt.number)", start: attempt.startedAt, end: attempt.endedAt, kind: attempt.status.rawValue,
                        note: Formatting.duration(attempt.endedAt - attempt.startedAt)))
                }
            case .sleep, .waitForEvent, .invoke:
                let end = step.status == .waiting ? (step.until ?? now) : step.endedAt
                let verb = step.kind == .sleep ? "sleep" : step.kind == .invoke ? "invoke" : "wait"
                lanes.append(Lane(
                    label: "\(step.stepID) (\(verb))", start: step.startedAt, end: end, kind: step.status == .waiting ? "waiting" : step.kind.rawValue,
                    note: step.status == .waiting ? "until \(Formatting.time(end))" : Formatting.duration(step.endedAt - step.startedAt)))
            }
        }
        guard !lanes.isEmpty else { return "<div class=\"timeline muted\">Nothing ran yet.</div>" }
        let start = min(run.createdAt, lanes.map(\.start).min() ?? run.createdAt)
        let end = max(lanes.map(\.end).max() ?? start, run.endedAt ?? now, start + 1)
        let span = Double(end - start)
        let rows = HTML.join(lanes.map { lane in
            // SVG attributes, not inline styles: the pages' Content-Security-Policy allows no
            // inline style, and a bar needs none.
            let left = Double(lane.start - start) / span * 1000, width = max(3, Double(max(0, lane.end - lane.start)) / span * 1000)
            let x = String(format: "%.1f", min(left, 997)), w = String(format: "%.1f", min(width, 1000 - min(left, 997)))
            return """
                <div class="lane" data-lane="\(lane.label)"><span class="mono">\(lane.label)</span>
                <svg class="track" viewBox="0 0 1000 14" preserveAspectRatio="none" role="img" aria-label="\(lane.label): \(lane.note)"><rect class="bar \(lane.kind)" x="\(x)" y="0" width="\(w)" height="14" rx="2"><title>\(lane.label): \(lane.note)</title></rect></svg>
                <span class="muted">\(lane.note)</span></div>
                """
        })
        return "<div class=\"timeline\">\(rows)<p class=\"muted\">From \(Formatting.time(start)) to \(Formatting.time(end)) (\(Formatting.duration(end - start))).</p></div>"
    }

    /// A step's record: its output or error, and links to the events it sent or received and
    /// the run it invoked.
    private static func stepDetails(_ step: StepRecord, _ page: PageContext) -> HTML {
        var links: [HTML] = []
        for id in step.sentEventIDs ?? [] {
            links.append("<li>sent event <a class=\"mono\" href=\"\(page.link("events/\(id)"))\">\(id)</a></li>")
        }
        if let received = step.receivedEvent {
            links.append("<li>received event <a class=\"mono\" href=\"\(page.link("events/\(received.id)"))\">\(received.id)</a> (\(received.name))</li>")
        }
        if step.kind == .invoke {
            var invoked = step.output?["run_id"]?.stringValue.flatMap(RunID.init)
            switch step.invocation {
            case .finished(let runID, _)?, .cancelled(let runID)?: invoked = runID ?? invoked
            case .failed(let runID, _)?: invoked = runID ?? invoked
            case .timedOut?, nil: break
            }
            if let invoked { links.append("<li>invoked run <a class=\"mono\" href=\"\(page.link("runs/\(invoked)"))\">\(invoked)</a></li>") }
        }
        let output: HTML = step.output.map { "<pre>\(Formatting.pretty($0))</pre>" } ?? .empty
        return """
            <details data-step="\(step.key)" \(step.status == .completed ? HTML.empty : "open")><summary>\(Layout.status(step.status.rawValue)) <span class="mono">\(step.key)</span> <span class="muted">\(step.kind.rawValue), \(step.failedAttempts) failed attempts</span></summary>
            \(links.isEmpty ? HTML.empty : "<ul>\(links)</ul>")\(output)\(Layout.error(step.error))
            </details>
            """
    }
}
