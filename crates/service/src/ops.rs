//! What a service's ops endpoints answer: readiness (the database and the broker reachable) and
//! the gauges read at scrape time — the outbox's backlog, the database pool's use, and the depth
//! of the service's own queue and its dead-letter queue.

use std::sync::Arc;

use concord_models::database::connection;
use concord_models::outbox::OutboxMessage;
use concord_models::DbPool;
use concord_queue::{Role, Topology};
use concord_telemetry::ops::{Ops, ReadinessCheck, Refresh};
use concord_telemetry::prometheus::{
    self, Gauge, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// The ops endpoints of a service that consumes `role`'s queue.
pub fn ops(
    pool: DbPool,
    amqp_url: String,
    topology: &Topology,
    role: Role,
    registry: &Registry,
) -> Result<Ops, prometheus::Error> {
    let gauges = Arc::new(ServiceGauges::register(
        registry,
        pool.clone(),
        amqp_url.clone(),
        vec![topology.queue(role), topology.dead_letter_queue(role)],
    )?);
    let refresh: Refresh = Arc::new(move || {
        let gauges = Arc::clone(&gauges);
        Box::pin(async move { gauges.refresh().await })
    });
    Ok(Ops {
        registry: registry.clone(),
        readiness: readiness(pool, amqp_url),
        refresh: Some(refresh),
    })
}

/// Ready when the database answers a checkout and the broker accepts a connection.
pub fn readiness(pool: DbPool, amqp_url: String) -> ReadinessCheck {
    Arc::new(move || {
        let pool = pool.clone();
        let amqp_url = amqp_url.clone();
        Box::pin(async move {
            concord_models::database::ping(&pool)
                .await
                .map_err(|e| format!("database: {e}"))?;
            concord_queue::broker::ping(&amqp_url)
                .await
                .map_err(|e| format!("broker: {e}"))?;
            Ok(())
        })
    })
}

/// Gauges whose values live elsewhere, brought up to date before each scrape.
struct ServiceGauges {
    pool: DbPool,
    amqp_url: String,
    queues: Vec<String>,
    outbox_backlog: IntGauge,
    outbox_oldest_age: Gauge,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    queue_messages: IntGaugeVec,
    queue_consumers: IntGaugeVec,
    refresh_failures: IntCounterVec,
}

impl ServiceGauges {
    fn register(
        registry: &Registry,
        pool: DbPool,
        amqp_url: String,
        queues: Vec<String>,
    ) -> Result<Self, prometheus::Error> {
        let gauges = Self {
            pool,
            amqp_url,
            queues,
            outbox_backlog: IntGauge::new(
                "concord_outbox_backlog",
                "Outbox messages written and not yet published (all services' outbox: one table)",
            )?,
            outbox_oldest_age: Gauge::new(
                "concord_outbox_oldest_age_seconds",
                "Age of the oldest unpublished outbox message (0 when there is none)",
            )?,
            pool_connections: IntGaugeVec::new(
                Opts::new(
                    "concord_db_pool_connections",
                    "This process's database connections, by state (in_use, idle)",
                ),
                &["state"],
            )?,
            pool_max: IntGauge::new(
                "concord_db_pool_max_connections",
                "The size this process's database pool may grow to",
            )?,
            queue_messages: IntGaugeVec::new(
                Opts::new(
                    "concord_queue_messages",
                    "Messages ready in the service's queue and its dead-letter queue",
                ),
                &["queue"],
            )?,
            queue_consumers: IntGaugeVec::new(
                Opts::new(
                    "concord_queue_consumers",
                    "Consumers of the service's queue and its dead-letter queue",
                ),
                &["queue"],
            )?,
            refresh_failures: IntCounterVec::new(
                Opts::new(
                    "concord_metrics_refresh_failures_total",
                    "Scrapes whose gauges could not be read, by source (database, broker)",
                ),
                &["source"],
            )?,
        };
        registry.register(Box::new(gauges.outbox_backlog.clone()))?;
        registry.register(Box::new(gauges.outbox_oldest_age.clone()))?;
        registry.register(Box::new(gauges.pool_connections.clone()))?;
        registry.register(Box::new(gauges.pool_max.clone()))?;
        registry.register(Box::new(gauges.queue_messages.clone()))?;
        registry.register(Box::new(gauges.queue_consumers.clone()))?;
        registry.register(Box::new(gauges.refresh_failures.clone()))?;
        Ok(gauges)
    }

    async fn refresh(&self) {
        let status = self.pool.status();
        let in_use = status.size.saturating_sub(status.available);
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(gauge_value(in_use));
        self.pool_connections
            .with_label_values(&["idle"])
            .set(gauge_value(status.available));
        self.pool_max.set(gauge_value(status.max_size));

        let backlog = async {
            let mut conn = connection(&self.pool).await?;
            OutboxMessage::backlog(&mut conn).await
        };
        match backlog.await {
            Ok((count, oldest)) => {
                self.outbox_backlog.set(count);
                let age = oldest.map_or(0.0, |oldest| {
                    (chrono::Utc::now() - oldest)
                        .to_std()
                        .map_or(0.0, |age| age.as_secs_f64())
                });
                self.outbox_oldest_age.set(age);
            }
            Err(error) => {
                tracing::warn!(%error, "reading the outbox backlog for the metrics");
                self.refresh_failures.with_label_values(&["database"]).inc();
            }
        }

        match concord_queue::broker::queue_depths(&self.amqp_url, &self.queues).await {
            Ok(depths) => {
                for (queue, depth) in self.queues.iter().zip(depths) {
                    self.queue_messages
                        .with_label_values(&[queue.as_str()])
                        .set(i64::from(depth.messages));
                    self.queue_consumers
                        .with_label_values(&[queue.as_str()])
                        .set(i64::from(depth.consumers));
                }
            }
            Err(error) => {
                tracing::warn!(%error, "reading the queue depths for the metrics");
                self.refresh_failures.with_label_values(&["broker"]).inc();
            }
        }
    }
}

/// A count as a gauge's value (saturating: a pool never holds 2^63 connections).
fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
