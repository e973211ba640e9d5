//! The outbox relay: publishes, with publisher confirms, the messages that services wrote to the
//! outbox in the same transaction as their state change, and stamps them published. A broker
//! outage only delays them: they wait in the database until the broker is back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use concord_models::database::connection;
use concord_models::outbox::{OutboxExchange, OutboxMessage};
use concord_models::{DbPool, StoreError};
use diesel_async::AsyncConnection;
use prometheus::{IntCounter, Registry};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::broker::connect_with_retry;
use crate::publisher::{OutgoingMessage, Publisher};
use crate::{QueueError, Topology};

const BATCH: i64 = 200;
const POLL_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct OutboxRelay {
    pool: DbPool,
    amqp_url: String,
    topology: Topology,
    connection_name: String,
    wake: Arc<Notify>,
    published: IntCounter,
}

impl OutboxRelay {
    pub fn new(
        pool: DbPool,
        amqp_url: String,
        topology: Topology,
        connection_name: String,
        registry: &Registry,
    ) -> Result<Self, prometheus::Error> {
        let published = IntCounter::new(
            "concord_outbox_published_total",
            "Outbox messages published to the broker",
        )?;
        registry.register(Box::new(published.clone()))?;
        Ok(Self {
            pool,
            amqp_url,
            topology,
            connection_name,
            wake: Arc::new(Notify::new()),
            published,
        })
    }

    /// Wakes the relay at once (after a commit that wrote to the outbox) instead of at its next
    /// poll.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Publishes until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut publisher: Option<(lapin::Connection, Publisher)> = None;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if publisher.is_none() {
                let Some(connection) =
                    connect_with_retry(&self.amqp_url, &self.connection_name, &shutdown).await
                else {
                    break;
                };
                match self.open(&connection).await {
                    Ok(p) => publisher = Some((connection, p)),
                    Err(error) => {
                        tracing::warn!(%error, "outbox relay could not open a channel");
                        self.pause(&shutdown, Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let Some((_, current)) = publisher.as_ref() else {
                continue;
            };
            match self.publish_batch(current).await {
                Ok(count) if i64::try_from(count).map_or(true, |n| n >= BATCH) => continue,
                Ok(_) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
                Err(RelayError::Broker(error)) => {
                    tracing::warn!(%error, "outbox relay lost the broker; reconnecting");
                    publisher = None;
                    self.pause(&shutdown, Duration::from_millis(250)).await;
                }
                Err(RelayError::Store(error)) => {
                    tracing::warn!(%error, "outbox relay cannot reach the database");
                    self.pause(&shutdown, Duration::from_secs(1)).await;
                }
            }
        }
        if let Some((connection, _)) = publisher {
            let _ = connection.close(200, "shutting down".into()).await;
        }
    }

    async fn open(&self, connection: &lapin::Connection) -> Result<Publisher, QueueError> {
        let publisher = Publisher::open(connection).await?;
        self.topology.declare(publisher.channel()).await?;
        Ok(publisher)
    }

    async fn pause(&self, shutdown: &CancellationToken, duration: Duration) {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(duration) => {}
        }
    }

    /// Publishes one batch inside one transaction: the rows stay locked (other relays skip them)
    /// until they are confirmed and stamped. Returns how many were published.
    async fn publish_batch(&self, publisher: &Publisher) -> Result<usize, RelayError> {
        let mut conn = connection(&self.pool).await?;
        let topology = &self.topology;
        let outcome = conn
            .transaction::<_, RelayError, _>(async |conn| {
                let batch = OutboxMessage::claim_unpublished(conn, BATCH).await?;
                if batch.is_empty() {
                    return Ok(0);
                }
                let mut pending = Vec::with_capacity(batch.len());
                let mut broker_error = None;
                for message in &batch {
                    let payload =
                        serde_json::to_vec(&message.payload).map_err(StoreError::from)?;
                    // Headers carry the trace context only: a row whose headers do not read as
                    // text pairs is published without them (the trace breaks, nothing is lost).
                    let headers: HashMap<String, String> =
                        match serde_json::from_value(message.headers.clone()) {
                            Ok(headers) => headers,
                            Err(error) => {
                                tracing::warn!(message_id = %message.message_id, %error, "outbox headers unreadable; published without them");
                                HashMap::new()
                            }
                        };
                    let outgoing = OutgoingMessage {
                        payload: &payload,
                        message_id: Some(message.message_id.to_string()),
                        correlation_id: None,
                        headers,
                        mandatory: message.exchange == OutboxExchange::Jobs,
                    };
                    match publisher
                        .start_publish(
                            &topology.exchange_for(message.exchange),
                            &message.routing_key,
                            &outgoing,
                        )
                        .await
                    {
                        Ok(confirm) => pending.push((message.id, confirm)),
                        Err(error) => {
                            broker_error = Some((message.id, error));
                            break;
                        }
                    }
                }
                let mut published = Vec::with_capacity(pending.len());
                for (id, confirm) in pending {
                    match confirm.confirmed().await {
                        Ok(()) => published.push(id),
                        Err(error) => {
                            if broker_error.is_none() {
                                broker_error = Some((id, error));
                            }
                        }
                    }
                }
                OutboxMessage::mark_published(conn, &published).await?;
                if let Some((id, error)) = &broker_error {
                    OutboxMessage::record_failure(conn, *id, &error.to_string()).await?;
                }
                Ok(published.len()).and_then(|count| match broker_error {
                    // Commit what was confirmed; report the failure after the commit.
                    Some((_, error)) if count == 0 => Err(RelayError::Broker(error)),
                    _ => Ok(count),
                })
            })
            .await?;
        self.published.inc_by(outcome as u64);
        Ok(outcome)
    }
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Broker(QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for RelayError {
    fn from(error: diesel::result::Error) -> Self {
        RelayError::Store(StoreError::Query(error))
    }
}
