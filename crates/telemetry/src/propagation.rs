//! W3C trace context (`traceparent`, `tracestate`) in and out of message and HTTP headers.

use std::collections::HashMap;

use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The trace context of the current span as headers (empty when there is no active trace).
pub fn current_context_headers() -> HashMap<String, String> {
    let context = tracing::Span::current().context();
    let mut headers = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut headers)
    });
    headers
}

/// The trace context carried by headers (an empty context when they carry none).
pub fn context_from_headers(headers: &HashMap<String, String>) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(headers))
}

/// Makes `span` a child of the trace the headers carry.
pub fn continue_trace(span: &tracing::Span, headers: &HashMap<String, String>) {
    let parent = context_from_headers(headers);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The trace id of a span, as 32 hex digits, if it belongs to a trace.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
