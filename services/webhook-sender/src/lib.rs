//! The webhook sender: delivers the events of every organisation to its webhook endpoints, as
//! Standard Webhooks writes them (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
//!
//! Two halves, joined by the `webhook_deliveries` table:
//!
//! - **ingest** ([`ingest`]): the service's own durable queue gets every event of the events
//!   exchange; each event becomes one delivery row per enabled endpoint of its organisation that
//!   subscribes to its type, written in the transaction that records the message handled, and
//!   only then acknowledged. An event the broker delivers again creates nothing (one row per
//!   endpoint and event, and the processed-message ledger).
//! - **delivery** ([`delivery`]): a loop takes due deliveries (`FOR UPDATE SKIP LOCKED`, so
//!   several senders share the work), leases them for the length of an attempt, and sends them
//!   with a bounded number in flight and a request timeout. Each attempt is recorded on its
//!   delivery; a failure is retried with exponential backoff and full jitter until the retry
//!   window (24 h by default) has passed since the first attempt, then the delivery is failed. A
//!   run of failed attempts disables the endpoint and announces it (`webhook.endpoint_disabled`,
//!   through the outbox).
//!
//! A sender that stops mid-attempt leaves its leases to expire: the delivery is sent again, with
//! the same `webhook-id`. Nothing is kept in memory that the database does not hold.

pub mod client;
pub mod delivery;
pub mod ingest;
pub mod settings;

use std::sync::Arc;

use anyhow::Context;
use concord_queue::Role;
use concord_service::{Worker, WorkerContext};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use settings::SenderSettings;

pub const NAME: &str = "webhook-sender";
pub const DEFAULT_OPS_ADDR: &str = "127.0.0.1:9104";

pub struct Application {
    worker: Worker,
    delivery: JoinHandle<()>,
}

impl Application {
    /// Starts the consumer of events, the outbox relay, the ops endpoints and the delivery loop.
    pub async fn build(settings: SenderSettings) -> anyhow::Result<Application> {
        let client = client::build(&settings.delivery).context("building the HTTP client")?;
        let wake = Arc::new(Notify::new());
        let mut context: Option<WorkerContext> = None;
        let worker = Worker::build(settings.worker.clone(), Role::Webhooks, NAME, |ctx| {
            context = Some(ctx.clone());
            ingest::EventIngest::new(Arc::clone(&wake))
        })
        .await?;
        let context = context.context("the worker did not hand over its context")?;
        let sender = delivery::DeliveryLoop::new(
            context.pool.clone(),
            client,
            settings.delivery.clone(),
            context.outbox_waker.clone(),
            wake,
            &context.registry,
        )?;
        let delivery = tokio::spawn(sender.run(context.shutdown.clone()));
        Ok(Application { worker, delivery })
    }

    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub fn ops_port(&self) -> u16 {
        self.worker.ops_port()
    }

    /// Cancel it to stop: the attempts in flight finish and are recorded, then it returns.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.worker.shutdown_token()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let stopped = self.worker.run_until_stopped().await;
        self.delivery.await.context("the delivery loop failed")?;
        stopped
    }
}
