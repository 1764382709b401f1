import Tracing

extension StepwiseClient {
    /// Runs `body` in a new span of the client's tracer, as the current span (so that spans the
    /// body starts, the app's own included, are its children), and ends it however `body`
    /// ends; an error is recorded on it. With the no-op tracer this is a few calls that do
    /// nothing.
    func withSpan<Value>(
        _ name: String, context: ServiceContext, ofKind kind: SpanKind, _ body: (any Span) async throws -> Value
    ) async rethrows -> Value {
        let span = tracer.startSpan(name, context: context, ofKind: kind)
        defer { span.end() }
        do {
            return try await ServiceContext.withValue(span.context) { try await body(span) }
        } catch {
            span.recordError(error)
            throw error
        }
    }

    /// The context a new span of this process starts under: the current one (the app's
    /// request, a run's span), or a new trace.
    var currentTraceParent: ServiceContext { ServiceContext.current ?? .topLevel }
}

/// How long since `start`, in nanoseconds, for a timer.
func nanoseconds(since start: ContinuousClock.Instant) -> Int64 {
    let elapsed = ContinuousClock.now - start
    let parts = elapsed.components
    return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
}
