import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import InMemoryTracing
import NIOCore
import Stepwise
import StepwiseHTTP
import StepwiseTesting
import Testing
import Tracing

/// The lines of a Prometheus exposition for metric `name`, whose labels include `labels`.
func samples(_ exposition: String, _ name: String, labels: [String] = []) -> [String] {
    exposition.split(separator: "\n").map(String.init).filter { line in
        line.hasPrefix(name + "{") && labels.allSatisfy { line.contains($0) }
    }
}

@Suite("/metrics and traced ingest")
struct MetricsEndpointTests {
    @Test("/metrics answers Prometheus text with the events sent and the requests timed by route and status")
    func prometheusText() async throws {
        let metrics = PrometheusEndpoint()
        let client = StepwiseClient(
            id: "test-app", store: try SQLiteStore(.init(path: nil)),
            configuration: .init(userEncryption: .plaintext, metricsFactory: metrics.factory), logger: quietLogger())
        let router = StepwiseHTTPAPI(client: client, configuration: StepwiseHTTPConfiguration(isDevelopment: true)).router(metrics: metrics)
        try await Application(router: router).test(.router) { http in
            let body = ByteBuffer(string: #"[{"name": "shop/a", "data": {}}, {"name": "shop/b", "data": {}}]"#)
            try await http.execute(uri: "/e/any-key", method: .post, body: body) { response in
                #expect(response.status == .ok)
            }
            try await http.execute(uri: "/e/any-key", method: .post, body: ByteBuffer(string: "{")) { response in
                #expect(response.status == .badRequest)
            }
            try await http.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                let text = String(buffer: response.body)
                let sent = samples(text, "messaging_client_sent_messages", labels: [#"messaging_system="stepwise""#, #"stepwise_app_id="test-app""#])
                #expect(sent.count == 1 && sent.first?.hasSuffix(" 2") == true, "\(text)")
                let accepted = samples(
                    text, "http_server_request_duration_count",
                    labels: [#"http_route="/e/{eventKey}""#, #"http_response_status_code="200""#, #"http_request_method="POST""#])
                #expect(accepted.first?.hasSuffix(" 1") == true, "\(text)")
                let refused = samples(text, "http_server_request_duration_count", labels: [#"http_response_status_code="400""#])
                #expect(refused.first?.hasSuffix(" 1") == true, "\(text)")
                #expect(!text.contains("any-key"), "the event key never reaches a label")
            }
        }
    }

    @Test("an Event API request's trace headers make the events part of the sender's trace")
    func incomingTrace() async throws {
        let tracer = InMemoryTracer()
        let store = try SQLiteStore(.init(path: nil))
        let client = StepwiseClient(
            id: "test-app", store: store, configuration: .init(userEncryption: .plaintext, tracer: tracer), logger: quietLogger())
        let router = StepwiseHTTPAPI(client: client, configuration: StepwiseHTTPConfiguration(isDevelopment: true)).router()
        // The in-memory tracer propagates its own two fields where an OpenTelemetry one sends
        // `traceparent`: the route hands the tracer the headers, whatever their names.
        let headers: HTTPFields = [
            HTTPField.Name(InMemoryTracer.traceIDKey)!: "sender-trace", HTTPField.Name(InMemoryTracer.spanIDKey)!: "sender-span",
        ]
        try await Application(router: router).test(.router) { http in
            try await http.execute(uri: "/e/k", method: .post, headers: headers, body: ByteBuffer(string: #"{"name": "shop/a", "data": {}}"#)) { response in
                #expect(response.status == .ok)
            }
        }
        let send = try #require(tracer.finishedSpans.first { $0.operationName == "send shop/a" })
        #expect(send.traceID == "sender-trace" && send.parentSpanID == "sender-span")
        let stored = try #require(try await storedEvents(store).first)
        #expect(stored.traceContext?.fields[InMemoryTracer.traceIDKey] == "sender-trace")
        #expect(stored.traceContext?.fields[InMemoryTracer.spanIDKey] == send.spanID)
    }
}

@Suite("stepwise dev's /metrics, as a separate process")
struct DevServerMetricsTests {
    @Test("stepwise dev counts the events posted to it and serves them at /metrics")
    func devServerMetrics() async throws {
        let directory = try TemporaryDirectory()
        let (server, url) = try await startDevServer(database: directory.path("dev.db"))
        defer { server.stop() }
        let answer = try await post("\(url)/e/key", #"[{"name": "shop/a", "data": {}}, {"name": "shop/a", "data": {}}, {"name": "shop/b", "data": {}}]"#)
        #expect(answer.status == 200, "\(answer.body)")
        let scraped = try await get("\(url)/metrics")
        #expect(scraped.status == 200)
        let sent = samples(scraped.body, "messaging_client_sent_messages", labels: [#"stepwise_app_id="stepwise-server""#])
        #expect(sent.first?.hasSuffix(" 3") == true, "\(scraped.body)")
        #expect(!samples(scraped.body, "http_server_request_duration_count", labels: [#"http_route="/e/{eventKey}""#]).isEmpty, "\(scraped.body)")
    }
}
