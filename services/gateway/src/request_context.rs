//! The outermost middleware: gives every request an id (echoed in `X-Request-Id` and in error
//! bodies), a tracing span that continues the caller's W3C trace, and its metrics.

use std::collections::HashMap;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
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
        // A reconciliation service's URL holds its token: never logged.
        path = %crate::reconcile::redact_path(req.path()),
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
    let response = match nul_in_query(req.query_string()) {
        Some(error) => REQUEST_ID.sync_scope(id.clone(), || respond(req, error)),
        None => REQUEST_ID
            .scope(request_id.clone(), next.call(req).instrument(span.clone()))
            .await?
            .map_into_boxed_body(),
    };
    let mut response = envelope_bare_errors(response, &id);

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

/// A 422 naming the query parameter whose name or value holds a NUL character (`%00`), which
/// no stored text may hold; `None` when there is none (or the query does not parse: the
/// handler's own query extractor reports that).
fn nul_in_query(query: &str) -> Option<ApiError> {
    if !query.contains("%00") {
        return None;
    }
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query).ok()?;
    pairs.iter().find_map(|(name, value)| {
        (name.contains('\0') || value.contains('\0')).then(|| {
            let field = name.replace('\0', "\\0");
            ApiError::validation(
                field.as_str(),
                format!("the query parameter `{field}` must not contain a NUL character (U+0000)"),
            )
        })
    })
}

/// What actix answers by itself, before any handler runs — a 405 for a method a route does not
/// have, a 413 for a body over [`crate::extract::JSON_BODY_LIMIT`] — in the error envelope
/// like every other refusal.
fn envelope_bare_errors(response: ServiceResponse<BoxBody>, id: &str) -> ServiceResponse<BoxBody> {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let error = match response.status() {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed {
            method: response.request().method().to_string(),
            path: response.request().path().to_owned(),
        },
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit: crate::extract::JSON_BODY_LIMIT,
        },
        _ => return response,
    };
    let (req, _) = response.into_parts();
    REQUEST_ID.sync_scope(id.to_owned(), || {
        ServiceResponse::new(req, error.error_response())
    })
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
