import Synchronization
import Tracing

/// The tracer `steps --observability` measures with: it records every span the way an
/// OpenTelemetry SDK does between a span's start and its export, and hands finished spans, in
/// batches, to an exporter that counts them and lets them go.
///
/// Why not `InMemoryTracer`: that test tracer keeps every finished span, every injection and
/// every extraction for as long as it lives (33 000 spans and 6 000 contexts per measurement),
/// in one dictionary of active spans under one lock, with string ids built per span. That is
/// what a test wants to read back, and no exporter does it: an SDK's batch processor holds a
/// bounded queue (OpenTelemetry's defaults: 2 048 spans, exported 512 at a time) and drops
/// what it exported. So this tracer records what an SDK records (name, kind, parent, trace,
/// attributes, links, events, errors, status, start and end times), propagates W3C
/// `traceparent` text, and keeps at most one batch.
struct RecordingTracer: Tracer {
    let exporter: CountingExporter
    private let ids = SpanIDSource()

    init(exporter: CountingExporter = CountingExporter()) {
        self.exporter = exporter
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> RecordingSpan {
        var context = context()
        let parent = context.recordingSpanContext
        let spanContext = RecordingSpanContext(
            traceID: parent?.traceID ?? ids.nextTraceID(), spanID: ids.next(), parentSpanID: parent?.spanID)
        context.recordingSpanContext = spanContext
        return RecordingSpan(
            RecordingSpan.Storage(
                operationName: operationName, context: context, spanContext: spanContext, kind: kind,
                startNanoseconds: instant().nanosecondsSinceEpoch, exporter: exporter))
    }

    func forceFlush() { exporter.flush() }

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let spanContext = context.recordingSpanContext else { return }
        injector.inject(spanContext.traceparent, forKey: "traceparent", into: &carrier)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let text = extractor.extract(key: "traceparent", from: carrier),
              let spanContext = RecordingSpanContext(traceparent: text)
        else { return }
        context.recordingSpanContext = spanContext
    }
}

/// A span's place in its trace, as W3C trace context carries it.
struct RecordingSpanContext: Sendable, Hashable {
    var traceID: UInt128
    var spanID: UInt64
    var parentSpanID: UInt64?

    /// `00-{trace id, 32 hex}-{span id, 16 hex}-01`: version 0, sampled.
    var traceparent: String {
        String(unsafeUninitializedCapacity: 55) { buffer in
            func write(_ text: StaticString, at offset: Int) {
                text.withUTF8Buffer { for (index, byte) in $0.enumerated() { buffer[offset + index] = byte } }
            }
            func write(hex value: UInt64, at offset: Int) {
                let digits: StaticString = "0123456789abcdef"
                digits.withUTF8Buffer { digits in
                    for index in 0..<16 { buffer[offset + index] = digits[Int(value >> (60 - 4 * index) & 0xF)] }
                }
            }
            write("00-", at: 0)
            write(hex: UInt64(truncatingIfNeeded: traceID >> 64), at: 3)
            write(hex: UInt64(truncatingIfNeeded: traceID), at: 19)
            write("-", at: 35)
            write(hex: spanID, at: 36)
            write("-01", at: 52)
            return 55
        }
    }

    init(traceID: UInt128, spanID: UInt64, parentSpanID: UInt64?) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
    }

    /// The remote parent a `traceparent` names; `nil` for text that is not one.
    init?(traceparent text: String) {
        var text = text
        let parsed: (UInt64, UInt64, UInt64)? = text.withUTF8 { bytes in
            guard bytes.count == 55, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0"), bytes[2] == UInt8(ascii: "-"),
                  bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-")
            else { return nil }
            func hex(at offset: Int) -> UInt64? {
                var value: UInt64 = 0
                for byte in bytes[offset..<offset + 16] {
                    let digit: UInt8
                    switch byte {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                    default: return nil
                    }
                    value = value << 4 | UInt64(digit)
                }
                return value
            }
            guard let high = hex(at: 3), let low = hex(at: 19), let span = hex(at: 36) else { return nil }
            return (high, low, span)
        }
        guard let (high, low, spanID) = parsed else { return nil }
        self.init(traceID: UInt128(high) << 64 | UInt128(low), spanID: spanID, parentSpanID: nil)
    }
}

extension ServiceContext {
    /// The recording tracer's span in this context.
    var recordingSpanContext: RecordingSpanContext? {
        get { self[RecordingSpanContextKey.self] }
        set { self[RecordingSpanContextKey.self] = newValue }
    }
}

private enum RecordingSpanContextKey: ServiceContextKey {
    typealias Value = RecordingSpanContext
}

/// Span and trace ids: a counter through SplitMix64's mixing function, so that ids look
/// random and never repeat within a process, without a system call per id (an SDK's id
/// generator is a seeded PRNG for the same reason).
final class SpanIDSource: Sendable {
    private let counter: Atomic<UInt64>

    init() {
        var generator = SystemRandomNumberGenerator()
        counter = Atomic(generator.next())
    }

    func next() -> UInt64 {
        var z = counter.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    func nextTraceID() -> UInt128 { UInt128(next()) << 64 | UInt128(next()) }
}

/// A span of ``RecordingTracer``: its mutable state behind one lock, as an SDK's span.
struct RecordingSpan: Span {
    final class Storage: Sendable {
        struct State {
            var operationName: String
            var attributes: SpanAttributes = [:]
            var events: [SpanEvent] = []
            var links: [SpanLink] = []
            var errors: [String] = []
            var status: SpanStatus?
            var isRecording = true
        }

        let context: ServiceContext
        /// The span's ids, also in `context`: kept apart for the exporter, as an SDK's span does.
        let spanContext: RecordingSpanContext
        let kind: SpanKind
        let startNanoseconds: UInt64
        let exporter: CountingExporter
        let state: Mutex<State>

        init(
            operationName: String, context: ServiceContext, spanContext: RecordingSpanContext, kind: SpanKind, startNanoseconds: UInt64,
            exporter: CountingExporter
        ) {
            self.context = context
            self.spanContext = spanContext
            self.kind = kind
            self.startNanoseconds = startNanoseconds
            self.exporter = exporter
            self.state = Mutex(State(operationName: operationName))
        }
    }

    private let storage: Storage

    init(_ storage: Storage) { self.storage = storage }

    var context: ServiceContext { storage.context }

    var operationName: String {
        get { storage.state.withLock { $0.operationName } }
        nonmutating set { storage.state.withLock { if $0.isRecording { $0.operationName = newValue } } }
    }

    var attributes: SpanAttributes {
        get { storage.state.withLock { $0.attributes } }
        nonmutating set { storage.state.withLock { if $0.isRecording { $0.attributes = newValue } } }
    }

    var isRecording: Bool { storage.state.withLock { $0.isRecording } }

    func setStatus(_ status: SpanStatus) {
        storage.state.withLock { if $0.isRecording { $0.status = status } }
    }

    func addEvent(_ event: SpanEvent) {
        storage.state.withLock { if $0.isRecording { $0.events.append(event) } }
    }

    func addLink(_ link: SpanLink) {
        storage.state.withLock { if $0.isRecording { $0.links.append(link) } }
    }

    func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        // An SDK records an exception event with the error's type and message.
        let description = "\(type(of: error)): \(error)"
        storage.state.withLock { if $0.isRecording { $0.errors.append(description) } }
    }

    func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let endNanoseconds = instant().nanosecondsSinceEpoch
        let finished: FinishedSpan? = storage.state.withLock { state in
            guard state.isRecording else { return nil }
            state.isRecording = false
            return FinishedSpan(
                operationName: state.operationName, spanContext: storage.spanContext, kind: storage.kind,
                startNanoseconds: storage.startNanoseconds, endNanoseconds: endNanoseconds, attributes: state.attributes,
                events: state.events, links: state.links, errors: state.errors, status: state.status)
        }
        if let finished { storage.exporter.record(finished) }
    }
}

/// What an exporter receives of a span.
struct FinishedSpan: Sendable {
    var operationName: String
    var spanContext: RecordingSpanContext
    var kind: SpanKind
    var startNanoseconds: UInt64
    var endNanoseconds: UInt64
    var attributes: SpanAttributes
    var events: [SpanEvent]
    var links: [SpanLink]
    var errors: [String]
    var status: SpanStatus?
}

/// A batch processor and an exporter in one: finished spans queue up to a batch of 512, and
/// each full batch is "exported" by counting what it holds and letting it go.
final class CountingExporter: Sendable {
    struct Counts: Sendable {
        /// Spans exported or queued.
        var spans = 0
        /// Of those, spans with a parent in their trace (steps and sends under a run).
        var children = 0
        /// Of those, spans carrying at least one attribute.
        var withAttributes = 0
        /// Errors recorded on them.
        var errors = 0
    }

    static let batchSize = 512

    private struct State {
        var queue: [FinishedSpan] = []
        var counts = Counts()
    }

    private let state = Mutex(State())

    init() {
        state.withLock { $0.queue.reserveCapacity(Self.batchSize) }
    }

    func record(_ span: FinishedSpan) {
        let batch: [FinishedSpan]? = state.withLock { state in
            state.queue.append(span)
            guard state.queue.count >= Self.batchSize else { return nil }
            defer { state.queue = []; state.queue.reserveCapacity(Self.batchSize) }
            return state.queue
        }
        if let batch { export(batch) }
    }

    func flush() {
        let batch = state.withLock { state in
            defer { state.queue = [] }
            return state.queue
        }
        export(batch)
    }

    /// What every span exported so far held; queued ones are flushed first.
    var counts: Counts {
        flush()
        return state.withLock { $0.counts }
    }

    /// Outside the queue's lock, as an exporter encodes a batch on its own task.
    private func export(_ batch: [FinishedSpan]) {
        var counts = Counts()
        for span in batch {
            counts.spans += 1
            if span.spanContext.parentSpanID != nil { counts.children += 1 }
            if !span.attributes.isEmpty { counts.withAttributes += 1 }
            counts.errors += span.errors.count
        }
        state.withLock {
            $0.counts.spans += counts.spans
            $0.counts.children += counts.children
            $0.counts.withAttributes += counts.withAttributes
            $0.counts.errors += counts.errors
        }
    }
}
