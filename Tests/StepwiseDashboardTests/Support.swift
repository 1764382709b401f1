import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Stepwise
import StepwiseDashboard
import StepwiseHTTP
import StepwiseTesting

func quietLogger() -> Logger {
    var logger = Logger(label: "dashboard-test")
    logger.logLevel = .critical
    return logger
}

/// A client on a store in memory with a manual clock, a worker to drive, and the functions the
/// tests look at: one of steps, one that fails, one that sleeps.
struct DashboardHarness {
    let clock = ManualClock()
    let store: SQLiteStore
    let client: StepwiseClient
    let worker: Worker

    init(environment: String = "default") throws {
        store = try SQLiteStore(.init(path: nil))
        client = StepwiseClient(
            id: "test-app", store: store, configuration: .init(environment: environment, clock: clock), logger: quietLogger())
        try client.createFunction(id: "greet", trigger: .event("app/greet")) { event, step in
            let name = try await step.run("name") { event.data["name"]?.stringValue ?? "nobody" }
            try await step.sendEvent("greeted", Event(name: "app/greeted", data: ["name": .string(name)]))
            return "hello \(name)"
        }
        try client.createFunction(id: "fail", trigger: .event("app/fail"), options: .init(retries: RetryPolicy(retries: 0))) { _, step in
            try await step.run("boom") { () -> Int in throw NonRetriableError("boom") }
        }
        try client.createFunction(id: "nap", trigger: .event("app/nap")) { _, step in
            try await step.sleep("a-day", for: .seconds(86_400))
            return 1
        }
        worker = client.worker(.init(concurrency: 4))
    }

    /// Runs what is due now, without moving the clock past the sleeps.
    func drain() async throws {
        try await client.registerFunctions()
        _ = try await worker.drain()
    }

    func app(development: Bool = true, signingKey: String = "sign-me", at path: String = "/", logger: Logger = quietLogger()) -> some ApplicationProtocol {
        let configuration = StepwiseHTTPConfiguration(
            isDevelopment: development, eventKeys: SecretKeys(["event-key"]), signingKeys: SecretKeys([signingKey]))
        let router = StepwiseHTTPAPI(client: client, configuration: configuration).router()
        StepwiseDashboard(client: client, configuration: configuration).addRoutes(to: router, at: path)
        return Application(router: router, logger: logger)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
}

/// The CSRF token of the first form in a page.
func csrfToken(in html: String) -> String? {
    guard let range = html.range(of: "name=\"_csrf\" value=\"") else { return nil }
    return String(html[range.upperBound...].prefix { $0 != "\"" })
}

/// A form body, percent-encoded.
func form(_ fields: [(String, String)]) -> ByteBuffer {
    let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
    return ByteBuffer(string: fields.map { name, value in
        "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
    }.joined(separator: "&"))
}

/// A form POST's headers; Hummingbird's router test client addresses every request to `localhost`.
let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
