//! The runtime of a worker binary: migrations, the database pool, the consumer of its queue
//! around a [`JobHandler`], the outbox relay, and health and metrics on their own port.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;
use concord_models::DbPool;
use concord_queue::consumer::ConsumerMetrics;
use concord_queue::{run_consumer, ConsumerConfig, Role, Topology};
use concord_telemetry::prometheus::Registry;

use crate::foundation::Foundation;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::job::{JobHandler, TransactionalHandler};
use crate::settings::{env_or, ServiceSettings, SettingsError};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub service: ServiceSettings,
    /// `CONCORD_OPS_ADDR`: where `/healthz`, `/readyz` and `/metrics` are served (port 0 picks a
    /// free port).
    pub ops_addr: String,
    /// `CONCORD_CONCURRENCY`: messages handled at once.
    pub concurrency: u16,
}

impl WorkerSettings {
    pub fn from_env(default_ops_addr: &str) -> Result<Self, SettingsError> {
        Ok(Self {
            service: ServiceSettings::from_env()?,
            ops_addr: env_or("CONCORD_OPS_ADDR", default_ops_addr.to_owned())?,
            concurrency: env_or("CONCORD_CONCURRENCY", 4u16)?,
        })
    }
}

/// What a job handler is built from.
#[derive(Clone)]
pub struct WorkerContext {
    pub pool: DbPool,
    pub topology: Topology,
    pub registry: Registry,
    /// Wakes the outbox relay after a commit that wrote to the outbox.
    pub outbox_waker: Arc<tokio::sync::Notify>,
    /// The broker, for what a worker serves beside its queue (real-time requests, say).
    pub amqp_url: String,
    /// Fires when the worker stops.
    pub shutdown: CancellationToken,
    /// What the handler measures of its chunks, runs and caches.
    pub metrics: crate::metrics::WorkMetrics,
}

pub struct Worker {
    name: &'static str,
    ops_port: u16,
    shutdown: CancellationToken,
    consumer: JoinHandle<()>,
    relay: JoinHandle<()>,
    ops_server: JoinHandle<std::io::Result<()>>,
}

impl Worker {
    /// Starts everything; the worker runs until its shutdown token is cancelled.
    pub async fn build<H: JobHandler>(
        settings: WorkerSettings,
        role: Role,
        name: &'static str,
        make_handler: impl FnOnce(&WorkerContext) -> H,
    ) -> anyhow::Result<Worker> {
        Self::try_build(settings, role, name, |context| Ok(make_handler(context))).await
    }

    /// [`Worker::build`] with a handler whose making can fail (a client it needs, say).
    pub async fn try_build<H: JobHandler>(
        settings: WorkerSettings,
        role: Role,
        name: &'static str,
        make_handler: impl FnOnce(&WorkerContext) -> anyhow::Result<H>,
    ) -> anyhow::Result<Worker> {
        let service = &settings.service;
        let Foundation {
            pool,
            registry,
            relay,
        } = Foundation::start(service, name).await?;
        let shutdown = CancellationToken::new();

        let context = WorkerContext {
            pool: pool.clone(),
            topology: service.topology.clone(),
            registry: registry.clone(),
            outbox_waker: relay.waker(),
            amqp_url: service.amqp_url.clone(),
            shutdown: shutdown.child_token(),
            metrics: crate::metrics::WorkMetrics::register(&registry)?,
        };
        let handler = Arc::new(TransactionalHandler::new(
            pool.clone(),
            make_handler(&context)?,
            relay.waker(),
        ));
        let metrics = ConsumerMetrics::register(&registry)?;

        let listener = TcpListener::bind(&settings.ops_addr)
            .with_context(|| format!("binding the ops address {}", settings.ops_addr))?;
        let ops_port = listener.local_addr()?.port();
        let ops = crate::ops::ops(
            pool,
            service.amqp_url.clone(),
            &service.topology,
            role,
            &registry,
        )?;
        let ops_server = tokio::spawn(concord_telemetry::ops::serve(listener, ops)?);

        let consumer = tokio::spawn(run_consumer(
            ConsumerConfig {
                amqp_url: service.amqp_url.clone(),
                topology: service.topology.clone(),
                role,
                concurrency: settings.concurrency,
                connection_name: name.to_owned(),
            },
            handler,
            metrics,
            shutdown.child_token(),
        ));
        let relay = tokio::spawn(relay.run(shutdown.child_token()));
        tracing::info!(worker = name, ops_port, queue = %service.topology.queue(role), "worker started");
        Ok(Worker {
            name,
            ops_port,
            shutdown,
            consumer,
            relay,
            ops_server,
        })
    }

    pub fn ops_port(&self) -> u16 {
        self.ops_port
    }

    /// Cancel it to stop the worker: it finishes the messages in flight, then returns.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        self.consumer.await.context("the consumer task failed")?;
        self.relay.await.context("the outbox relay task failed")?;
        self.ops_server.abort();
        tracing::info!(worker = self.name, "worker stopped");
        Ok(())
    }
}
