import Tracing

/// The trace an event belongs to, as the app's tracer propagates it: for an OpenTelemetry
/// tracer, the W3C `traceparent` and `tracestate` fields. Stored with each event, so that the
/// runs it triggers (claimed hours later, in another process) continue the trace of the code
/// that sent it.
///
/// The fields are whatever the tracer injects, not parsed here: Stepwise does not know the
/// format of the app's tracer, and a test tracer (`InMemoryTracer`) uses fields of its own.
public struct TraceContext: Sendable, Hashable {
    /// The propagation fields by name, such as `traceparent`.
    public let fields: [String: String]

    /// A context of these fields; `nil` when there are none, so that an event sent with no
    /// tracer stores nothing.
    public init?(fields: [String: String]) {
        guard !fields.isEmpty else { return nil }
        self.fields = fields
    }

    /// The context as a store keeps it: a JSON object of strings, its keys sorted so that the
    /// same context is always the same text.
    public var serialized: String {
        var object = JSON.Object()
        for key in fields.keys.sorted() { object[JSON.Key(key)] = .string(fields[key] ?? "") }
        return JSON.object(object).serialized
    }

    /// The context a store kept as ``serialized`` text; `nil` for text that is not a JSON
    /// object of strings. A context that does not read is dropped rather than failing the
    /// event: it only ever links traces, and the event must still be delivered.
    public init?(serialized text: String) {
        guard let json = try? JSON(parsing: text), let object = json.objectValue else { return nil }
        var fields: [String: String] = [:]
        for (key, value) in object {
            guard let string = value.stringValue else { return nil }
            fields[key.string] = string
        }
        self.init(fields: fields)
    }
}

extension TraceContext {
    /// The fields `tracer` injects for `context` (the current span's); `nil` when it injects
    /// none, as the no-op tracer does.
    static func injected(from context: ServiceContext?, by tracer: any Tracer) -> TraceContext? {
        guard let context else { return nil }
        var fields: [String: String] = [:]
        tracer.inject(context, into: &fields, using: DictionaryInjector())
        return TraceContext(fields: fields)
    }

    /// A service context holding the span these fields name, for a span that continues it.
    func extracted(by tracer: any Tracer) -> ServiceContext {
        var context = ServiceContext.topLevel
        tracer.extract(fields, into: &context, using: DictionaryExtractor())
        return context
    }
}

/// Writes a tracer's propagation fields into a dictionary.
struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

/// Reads a tracer's propagation fields from a dictionary.
struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}
