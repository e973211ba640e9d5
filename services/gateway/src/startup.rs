//! `Application::build` starts the gateway the same way in `main` and in tests: migrations, the
//! pool, the HTTP server, the outbox relay and the intake consumer.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use concord_queue::consumer::ConsumerMetrics;
use concord_queue::{run_consumer, ConsumerConfig, Role};
use concord_service::Foundation;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::intake::IntakeHandler;
use crate::matching::realtime::RealtimeClient;
use crate::rate_limit::RateLimiter;
use crate::request_context::{self, HttpMetrics};
use crate::settings::GatewaySettings;
use crate::state::AppState;
use crate::{
    auth, dialects, idempotency, jobs, keys, lookup_tables, matching, policies, rate_limit,
    reference_data, resolutions, webhooks,
};

pub struct Application {
    port: u16,
    server: Server,
    shutdown: CancellationToken,
    background: Vec<JoinHandle<()>>,
}

impl Application {
    pub async fn build(settings: GatewaySettings) -> anyhow::Result<Application> {
        let service = &settings.service;
        let Foundation {
            pool,
            registry,
            relay,
        } = Foundation::start(service, "gateway").await?;
        let shutdown = CancellationToken::new();

        let state = web::Data::new(AppState {
            run_details: crate::state::RunDetails::new(crate::state::RUN_DETAILS_KEPT),
            pool: pool.clone(),
            outbox_waker: relay.waker(),
            rate_limiter: RateLimiter::new(settings.rate_limit_per_minute),
            keys: crate::auth::KeyCache::new(settings.key_cache_ttl),
            metrics: HttpMetrics::register(&registry)?,
            limits: settings.limits,
            realtime: RealtimeClient::new(
                &service.amqp_url,
                service.topology.namespace(),
                settings.limits.realtime_timeout,
            ),
        });
        let ops = web::Data::new(concord_service::ops::ops(
            pool.clone(),
            service.amqp_url.clone(),
            &service.topology,
            Role::Intake,
            &registry,
        )?);

        let intake = tokio::spawn(run_consumer(
            ConsumerConfig {
                amqp_url: service.amqp_url.clone(),
                topology: service.topology.clone(),
                role: Role::Intake,
                concurrency: settings.intake_concurrency,
                connection_name: "gateway-intake".to_owned(),
            },
            Arc::new(IntakeHandler::new(state.clone())),
            ConsumerMetrics::register(&registry)?,
            shutdown.child_token(),
        ));
        let relay = tokio::spawn(relay.run(shutdown.child_token()));

        let listener = TcpListener::bind(&settings.http_addr)
            .with_context(|| format!("binding {}", settings.http_addr))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(ops.clone())
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    ApiError::validation("query", format!("invalid query string: {error}")).into()
                }))
                .app_data(web::PayloadConfig::new(crate::extract::JSON_BODY_LIMIT))
                .app_data(web::PathConfig::default().error_handler(|error, _| {
                    ApiError::validation("path", format!("invalid path: {error}")).into()
                }))
                .wrap(from_fn(request_context::middleware))
                .configure(concord_telemetry::ops::configure)
                .configure(crate::openapi::configure)
                .configure(crate::reconcile::configure_service)
                .configure(crate::ui::configure)
                .service(
                    web::scope("/v1")
                        .wrap(from_fn(idempotency::middleware))
                        .wrap(from_fn(rate_limit::middleware))
                        .wrap(from_fn(auth::middleware))
                        .configure(jobs::routes::configure)
                        .configure(keys::configure)
                        .configure(lookup_tables::configure)
                        .configure(matching::configure)
                        .configure(reference_data::configure)
                        .configure(dialects::configure)
                        .configure(policies::configure)
                        .configure(crate::reconcile::configure_tokens)
                        .configure(resolutions::configure)
                        .configure(webhooks::configure),
                )
                .default_service(web::to(request_context::no_route))
        })
        .workers(settings.http_workers.max(1))
        .listen(listener)?
        .run();
        tracing::info!(port, "gateway listening");
        Ok(Application {
            port,
            server,
            shutdown,
            background: vec![intake, relay],
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server stops (on SIGTERM or Ctrl-C it finishes the requests in flight),
    /// then drains the intake consumer and the relay.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let result = self.server.await;
        self.shutdown.cancel();
        for task in self.background {
            let _ = task.await;
        }
        tracing::info!("gateway stopped");
        result.context("the HTTP server failed")
    }
}
