//! `/healthz`, `/readyz` and `/metrics`: mounted on the gateway's app and served on their own
//! port by each worker.

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use prometheus::{Encoder, Registry, TextEncoder};

/// Checks that the service's dependencies are reachable; `Err` names what is not.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Brings the gauges that are read from elsewhere (a queue's depth, the outbox's backlog) up to
/// date; run before every scrape, so what `/metrics` shows is as of the scrape.
pub type Refresh = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// How long a scrape waits for [`Refresh`]: a dependency that hangs must not hang the scrape
/// (the gauges then keep their last values, and the refresh says what failed in its own metric).
const REFRESH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// What the ops endpoints need, registered as app data.
#[derive(Clone)]
pub struct Ops {
    pub registry: Registry,
    pub readiness: ReadinessCheck,
    pub refresh: Option<Refresh>,
}

/// A registry holding the standard `process_*` metrics of this process (CPU seconds, resident
/// and virtual memory, open and maximum file descriptors, start time), read from `/proc` at
/// every scrape.
pub fn registry() -> Result<Registry, prometheus::Error> {
    let registry = Registry::new();
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(registry)
}

/// Adds the three routes to an actix app that holds `web::Data<Ops>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(ops: web::Data<Ops>) -> HttpResponse {
    match (ops.readiness)().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(reason) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "unavailable", "reason": reason})),
    }
}

async fn metrics(ops: web::Data<Ops>) -> HttpResponse {
    if let Some(refresh) = &ops.refresh {
        if tokio::time::timeout(REFRESH_TIMEOUT, refresh())
            .await
            .is_err()
        {
            tracing::warn!(
                "refreshing the gauges took over {REFRESH_TIMEOUT:?}; scraping their last values"
            );
        }
    }
    let mut buffer = Vec::new();
    match TextEncoder::new().encode(&ops.registry.gather(), &mut buffer) {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(buffer),
        Err(e) => HttpResponse::InternalServerError().body(format!("encoding metrics: {e}")),
    }
}

/// A small HTTP server with only the ops routes, for the workers.
pub fn serve(listener: TcpListener, ops: Ops) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(ops);
    Ok(
        HttpServer::new(move || App::new().app_data(data.clone()).configure(configure))
            .workers(1)
            .disable_signals()
            .listen(listener)?
            .run(),
    )
}
