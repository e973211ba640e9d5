//! The outermost middleware: gives every request an id (echoed in `X-Request-Id` and in error
//! bodies), a tracing span that continues the caller's W3C trace, and its metrics.

use std::collections::HashMap;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tracing::Instrument;

use crate::error::ApiError;
use crate::state::AppState;

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being handled, if called while handling one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "concord_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["method", "route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "concord_http_request_duration_seconds",
                "HTTP request latency",
            ),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self { requests, duration })
    }
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "http_request",
        %method,
        path = %req.path(),
        request_id = %request_id,
        status = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    let incoming: HashMap<String, String> = ["traceparent", "tracestate"]
        .iter()
        .filter_map(|name| {
            req.headers()
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .map(|v| ((*name).to_owned(), v.to_owned()))
        })
        .collect();
    concord_telemetry::propagation::continue_trace(&span, &incoming);
    if let Some(trace_id) = concord_telemetry::propagation::trace_id(&span) {
        span.record("trace_id", trace_id);
    }
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let started = Instant::now();

    let id = request_id.clone();
    // Inner middleware and handlers answer errors inside this scope, so that their envelopes
    // carry the request id.
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.call(req).instrument(span.clone()))
        .await?
        .map_into_boxed_body();

    let status = response.status();
    span.record("status", status.as_u16());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        metrics
            .requests
            .with_label_values(&[&method, &route, status.as_str()])
            .inc();
        metrics
            .duration
            .with_label_values(&[&method, &route])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// The app's fallback: unknown routes answer with the error envelope.
pub async fn no_route(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NoRoute {
        method: req.method().to_string(),
        path: req.path().to_owned(),
    })
}

/// Turns an error into its response (for middleware that answer early).
pub fn respond(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(error.error_response())
}
