public import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
public import Stepwise

/// Sends events to an Event API over HTTP — a `stepwise dev` or `stepwise serve` elsewhere,
/// or Inngest itself, since it speaks Inngest's wire format — with the same `send` as
/// ``StepwiseClient``:
///
/// ```swift
/// let sender = try HTTPEventSender(configuration: .fromEnvironment())
/// let id = try await sender.send(Event(name: "app/user.signup", data: ["userId": "645ea8289ad09eac29230442"]))
/// ```
///
/// Events are validated before they leave, with the same errors as an in-process `send`. A
/// network error, a 5xx or a 429 answer is retried with backoff, under one
/// `x-inngest-event-id-seed`, so that a request that did arrive before its answer was lost is
/// stored once. Other 4xx answers throw ``HTTPEventSenderError/rejected(status:message:)``
/// with the server's message.
public struct HTTPEventSender: EventSender {
    /// Where to send, with what key, and how hard to try.
    public struct Configuration: Sendable {
        /// The server's base URL: events go to `<baseURL>/e/<eventKey>`.
        public var baseURL: String
        /// The event key; `nil` sends to a development server, which accepts any.
        public var eventKey: String?
        /// The branch environment (`x-inngest-env`); `nil` for the server's default one.
        public var environment: String?
        /// How many times a request is made in all before the send gives up.
        public var maxAttempts: Int
        /// The wait before the first retry; it doubles with each further one, up to `maxBackoff`.
        public var initialBackoff: Duration
        /// The longest wait between two attempts.
        public var maxBackoff: Duration
        /// How long one attempt may take. AsyncHTTPClient keeps trying to connect until then,
        /// so this is also how long an attempt at an unreachable server lasts.
        public var requestTimeout: Duration
        /// The sizes a batch is held to before it is sent: the server's, by default.
        public var limits: EventLimits

        /// The local development server's address, where Inngest's SDKs look for one too.
        public static let developmentServerURL = "http://127.0.0.1:8288"

        /// A configuration in code; ``fromEnvironment(_:)`` reads the usual variables.
        public init(
            baseURL: String = Configuration.developmentServerURL, eventKey: String? = nil, environment: String? = nil,
            maxAttempts: Int = 5, initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(5),
            requestTimeout: Duration = .seconds(10), limits: EventLimits = .default
        ) {
            self.baseURL = baseURL
            self.eventKey = eventKey
            self.environment = environment
            self.maxAttempts = maxAttempts
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
            self.requestTimeout = requestTimeout
            self.limits = limits
        }

        /// The configuration the process's environment gives: `STEPWISE_EVENT_API_URL` (or
        /// Inngest's `INNGEST_BASE_URL`; otherwise the local development server),
        /// `STEPWISE_EVENT_KEY` (or `INNGEST_EVENT_KEY`), and `INNGEST_ENV` for a branch
        /// environment.
        public static func fromEnvironment(_ variables: [String: String]? = nil) -> Configuration {
            let variables = variables ?? ProcessInfo.processInfo.environment
            func value(_ names: String...) -> String? {
                names.lazy.compactMap { variables[$0]?.trimmingCharacters(in: .whitespacesAndNewlines) }.first { !$0.isEmpty }
            }
            return Configuration(
                baseURL: value("STEPWISE_EVENT_API_URL", "INNGEST_BASE_URL") ?? developmentServerURL,
                eventKey: value("STEPWISE_EVENT_KEY", "INNGEST_EVENT_KEY"),
                environment: value("INNGEST_ENV"))
        }
    }

    /// Where and how this sender sends.
    public let configuration: Configuration
    private let httpClient: HTTPClient
    private let endpoint: String
    private let logger: Logger

    /// - Parameter httpClient: the client to send with; the process-wide shared one by default.
    /// - Throws: ``HTTPEventSenderError/invalidConfiguration(_:)`` for a base URL that is not
    ///   an `http` or `https` URL, or a non-positive `maxAttempts`.
    public init(configuration: Configuration, httpClient: HTTPClient = .shared, logger: Logger = Logger(label: "stepwise.http-sender")) throws {
        guard let url = URL(string: configuration.baseURL), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              url.host != nil
        else {
            throw HTTPEventSenderError.invalidConfiguration("baseURL must be an http or https URL, not '\(configuration.baseURL)'")
        }
        guard configuration.maxAttempts >= 1 else {
            throw HTTPEventSenderError.invalidConfiguration("maxAttempts must be at least 1, not \(configuration.maxAttempts)")
        }
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        // Inngest's SDKs put this in the path when no key is set; a development server takes it.
        let key = configuration.eventKey ?? "NO_EVENT_KEY_SET"
        let escapedKey = key.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? key
        self.endpoint = "\(base)/e/\(escapedKey)"
        self.configuration = configuration
        self.httpClient = httpClient
        self.logger = logger
    }

    /// Sends a batch in one request; it is stored whole, or not at all.
    ///
    /// - Returns: one id per event, in order (a duplicate's is the first event's).
    /// - Throws: ``EventValidationError`` before sending; ``HTTPEventSenderError`` when the
    ///   server refuses the batch or cannot be reached after every attempt.
    @discardableResult
    public func send(_ events: [Event]) async throws -> [EventID] {
        guard !events.isEmpty else { return [] }
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        let body = try Event.wireFormat(events, limits: configuration.limits, now: now)
        let seed = EventIDSeed.random(milliseconds: now)
        var lastFailure = ""
        for attempt in 1...configuration.maxAttempts {
            if attempt > 1 {
                try await Task.sleep(for: backoff(beforeAttempt: attempt))
            }
            do {
                let (status, payload) = try await post(body, seed: seed)
                switch status {
                case 200..<300:
                    return try ids(in: payload, expected: events.count)
                case 429, 500...:
                    lastFailure = "HTTP \(status): \(Self.message(in: payload) ?? "no message")"
                default:
                    throw HTTPEventSenderError.rejected(status: status, message: Self.message(in: payload) ?? "HTTP \(status)")
                }
            } catch let error as HTTPEventSenderError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                lastFailure = "\(error)"
            }
            logger.debug("event send failed; retrying", metadata: ["attempt": "\(attempt)", "failure": "\(lastFailure)"])
        }
        throw HTTPEventSenderError.unreachable(attempts: configuration.maxAttempts, lastFailure: lastFailure)
    }

    private func post(_ body: [UInt8], seed: EventIDSeed) async throws -> (status: Int, payload: ByteBuffer) {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "x-inngest-event-id-seed", value: seed.description)
        if let environment = configuration.environment { request.headers.add(name: "x-inngest-env", value: environment) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let timeout = TimeAmount.nanoseconds(
            configuration.requestTimeout.components.seconds * 1_000_000_000 + configuration.requestTimeout.components.attoseconds / 1_000_000_000)
        let response = try await httpClient.execute(request, timeout: timeout)
        let payload = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), payload)
    }

    private func ids(in payload: ByteBuffer, expected count: Int) throws -> [EventID] {
        guard let json = try? JSON(parsing: payload.readableBytesView), let list = json["ids"]?.arrayValue else {
            throw HTTPEventSenderError.unexpectedResponse("no \"ids\" in the answer: \(String(buffer: payload).prefix(200))")
        }
        let ids = list.compactMap { $0.stringValue.flatMap(EventID.init) }
        guard ids.count == list.count, ids.count == count else {
            throw HTTPEventSenderError.unexpectedResponse("\(list.count) ids for \(count) events, or ids that are not ULIDs")
        }
        return ids
    }

    private static func message(in payload: ByteBuffer) -> String? {
        guard let json = try? JSON(parsing: payload.readableBytesView) else {
            let text = String(buffer: payload)
            return text.isEmpty ? nil : String(text.prefix(500))
        }
        return json["error"]?.stringValue ?? json["message"]?.stringValue
    }

    /// Exponential, with jitter so that senders that failed together do not retry together.
    private func backoff(beforeAttempt attempt: Int) -> Duration {
        let exponential = configuration.initialBackoff * (1 << min(attempt - 2, 20))
        let capped = min(exponential, configuration.maxBackoff)
        return capped * Double.random(in: 0.5...1.0)
    }
}

/// Why an ``HTTPEventSender`` could not send.
public enum HTTPEventSenderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server refused the batch (a 4xx other than 429): nothing was stored.
    case rejected(status: Int, message: String)
    /// Every attempt failed on the network or with a 5xx or 429.
    case unreachable(attempts: Int, lastFailure: String)
    /// The server answered success, but not with the ids of the events.
    case unexpectedResponse(String)
    /// The sender's configuration cannot work.
    case invalidConfiguration(String)

    /// The error in words, with the server's message when it gave one.
    public var description: String {
        switch self {
        case .rejected(let status, let message): "the Event API refused the events (HTTP \(status)): \(message)"
        case .unreachable(let attempts, let lastFailure): "the Event API could not be reached in \(attempts) attempts; last: \(lastFailure)"
        case .unexpectedResponse(let detail): "the Event API's answer was not understood: \(detail)"
        case .invalidConfiguration(let detail): "invalid HTTPEventSender configuration: \(detail)"
        }
    }
}
