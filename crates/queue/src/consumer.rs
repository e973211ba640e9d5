//! The consume loop shared by every consumer: manual ack after the handler returns (the handler
//! commits its database work first), retry by requeue up to the queue's delivery limit,
//! dead-lettering with a readable reason, reconnection, and drain on shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::broker::connect_with_retry;
use crate::headers::{from_field_table, DELIVERY_COUNT_HEADER, ERROR_HEADER, SOURCE_QUEUE_HEADER};
use crate::publisher::{OutgoingMessage, Publisher};
use crate::{QueueError, Role, Topology};

/// A delivered message, as the handler sees it.
#[derive(Debug, Clone)]
pub struct IncomingMessage {
    pub payload: Vec<u8>,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub routing_key: String,
    pub headers: HashMap<String, String>,
    /// How many times the message was delivered before this delivery (0 the first time).
    pub delivery_count: u32,
}

/// What to do with a message once the handler is done with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandleOutcome {
    /// Done (its effects are committed): acknowledge.
    Ack,
    /// A transient failure (database or broker unreachable): deliver again later, up to the
    /// queue's delivery limit, after which the broker dead-letters it.
    Retry(String),
    /// A permanent failure: send it to the dead-letter queue with this reason, then acknowledge.
    DeadLetter(String),
}

pub trait MessageHandler: Send + Sync + 'static {
    fn handle(&self, message: IncomingMessage) -> impl Future<Output = HandleOutcome> + Send;
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub amqp_url: String,
    pub topology: Topology,
    pub role: Role,
    /// Messages handled concurrently (and the channel's prefetch).
    pub concurrency: u16,
    /// Shown in the broker's connection list.
    pub connection_name: String,
}

/// Handled messages by queue and outcome, how long handling took (for a worker's queue: how long
/// a chunk took, from delivery to acknowledgement), and the consumer's lag: how long a message
/// waited between its publication and its delivery (whole seconds, as AMQP's timestamp).
#[derive(Clone)]
pub struct ConsumerMetrics {
    handled: IntCounterVec,
    duration: HistogramVec,
    lag: HistogramVec,
}

impl ConsumerMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let handled = IntCounterVec::new(
            Opts::new(
                "concord_messages_handled_total",
                "Messages handled, by queue and outcome",
            ),
            &["queue", "outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "concord_message_handle_seconds",
                "Time from a message's delivery to its settlement (ack, retry or dead letter), by queue and outcome",
            )
            .buckets(prometheus::exponential_buckets(0.005, 2.0, 14)?),
            &["queue", "outcome"],
        )?;
        let lag = HistogramVec::new(
            HistogramOpts::new(
                "concord_consumer_lag_seconds",
                "Time a message waited between its publication and its delivery, by queue",
            )
            .buckets(vec![
                0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
            ]),
            &["queue"],
        )?;
        registry.register(Box::new(handled.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(lag.clone()))?;
        Ok(Self {
            handled,
            duration,
            lag,
        })
    }
}

/// Consumes the role's queue until `shutdown` fires, reconnecting whenever the broker goes away.
/// On shutdown it stops taking deliveries, lets the ones in flight finish, and returns.
pub async fn run_consumer<H: MessageHandler>(
    config: ConsumerConfig,
    handler: Arc<H>,
    metrics: ConsumerMetrics,
    shutdown: CancellationToken,
) {
    let queue = config.topology.queue(config.role);
    loop {
        let Some(connection) =
            connect_with_retry(&config.amqp_url, &config.connection_name, &shutdown).await
        else {
            return;
        };
        match consume_on(&connection, &config, &queue, &handler, &metrics, &shutdown).await {
            Ok(()) => {
                let _ = connection.close(200, "shutting down".into()).await;
                tracing::info!(%queue, "consumer drained and stopped");
                return;
            }
            Err(error) => {
                tracing::warn!(%queue, %error, "consumer lost its broker connection; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}

async fn consume_on<H: MessageHandler>(
    connection: &lapin::Connection,
    config: &ConsumerConfig,
    queue: &str,
    handler: &Arc<H>,
    metrics: &ConsumerMetrics,
    shutdown: &CancellationToken,
) -> Result<(), QueueError> {
    let channel = connection
        .create_channel()
        .await
        .map_err(QueueError::broker("channel.open"))?;
    config.topology.declare(&channel).await?;
    channel
        .basic_qos(config.concurrency.max(1), BasicQosOptions::default())
        .await
        .map_err(QueueError::broker("basic.qos"))?;
    let dead_letters = Arc::new(Publisher::open(connection).await?);
    let tag = format!(
        "{}-{}",
        config.connection_name,
        uuid::Uuid::new_v4().simple()
    );
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(QueueError::broker("basic.consume"))?;
    tracing::info!(%queue, concurrency = config.concurrency, "consuming");

    let mut in_flight = JoinSet::new();
    let result = loop {
        // Bound the work in flight (the prefetch bounds it too; this keeps memory flat).
        while in_flight.len() >= usize::from(config.concurrency.max(1)) {
            in_flight.join_next().await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                break Ok(());
            }
            delivery = consumer.next() => match delivery {
                Some(Ok(delivery)) => {
                    let handler = Arc::clone(handler);
                    let dead_letters = Arc::clone(&dead_letters);
                    let topology = config.topology.clone();
                    let role = config.role;
                    let metrics = metrics.clone();
                    let queue = queue.to_owned();
                    in_flight.spawn(async move {
                        handle_delivery(delivery, &*handler, &dead_letters, &topology, role, &queue, &metrics).await;
                    });
                }
                Some(Err(error)) => break Err(QueueError::Broker { operation: "basic.consume", source: error }),
                None => break Err(QueueError::ConsumerClosed),
            }
        }
    };
    // Drain: let every message in flight finish (and be acked) before closing.
    while in_flight.join_next().await.is_some() {}
    result
}

async fn handle_delivery<H: MessageHandler>(
    delivery: Delivery,
    handler: &H,
    dead_letters: &Publisher,
    topology: &Topology,
    role: Role,
    queue: &str,
    metrics: &ConsumerMetrics,
) {
    let delivered = std::time::Instant::now();
    if let Some(published) = delivery.properties.timestamp() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        let waited = Duration::from_secs(*published).as_secs_f64();
        metrics
            .lag
            .with_label_values(&[queue])
            .observe((now - waited).max(0.0));
    }
    let headers = from_field_table(delivery.properties.headers().as_ref());
    let delivery_count = headers
        .get(DELIVERY_COUNT_HEADER)
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);
    let message = IncomingMessage {
        payload: delivery.data.clone(),
        message_id: delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned()),
        correlation_id: delivery
            .properties
            .correlation_id()
            .as_ref()
            .map(|id| id.as_str().to_owned()),
        routing_key: delivery.routing_key.as_str().to_owned(),
        headers,
        delivery_count,
    };
    let span = tracing::info_span!(
        "consume",
        queue,
        message_id = message.message_id.as_deref().unwrap_or(""),
        delivery_count,
        trace_id = tracing::field::Empty,
    );
    concord_telemetry::propagation::continue_trace(&span, &message.headers);
    if let Some(trace_id) = concord_telemetry::propagation::trace_id(&span) {
        span.record("trace_id", trace_id);
    }

    let original = message.clone();
    // A handler that panics has not finished its message: it is delivered again, never left
    // unacknowledged (which would hold it until the connection closes).
    let outcome = std::panic::AssertUnwindSafe(handler.handle(message))
        .catch_unwind()
        .instrument(span.clone())
        .await
        .unwrap_or_else(|_| HandleOutcome::Retry("the handler panicked".to_owned()));
    // Settled inside the span as an instrumented future: a span *entered* across the awaits
    // below would be exited on whichever thread resumes the task, and a span created meanwhile
    // on this one could take the closed span as its parent (a panic in tracing's registry).
    let label = settle(
        &delivery,
        outcome,
        original,
        dead_letters,
        topology,
        role,
        queue,
    )
    .instrument(span)
    .await;
    metrics.handled.with_label_values(&[queue, label]).inc();
    metrics
        .duration
        .with_label_values(&[queue, label])
        .observe(delivered.elapsed().as_secs_f64());
}

/// Acks, requeues or dead-letters a delivery after its handler's outcome; the outcome's label.
async fn settle(
    delivery: &Delivery,
    outcome: HandleOutcome,
    original: IncomingMessage,
    dead_letters: &Publisher,
    topology: &Topology,
    role: Role,
    queue: &str,
) -> &'static str {
    let delivery_count = original.delivery_count;
    match &outcome {
        HandleOutcome::Ack => {
            if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
                tracing::warn!(%error, "ack failed; the message will be redelivered");
            }
            "ack"
        }
        HandleOutcome::Retry(reason) => {
            tracing::warn!(%reason, "transient failure; the message will be delivered again");
            // A short pause so that a failing dependency is not hammered.
            tokio::time::sleep(Duration::from_millis(
                200 * u64::from(delivery_count.min(10) + 1),
            ))
            .await;
            let requeue = BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            };
            if let Err(error) = delivery.acker.nack(requeue).await {
                tracing::warn!(%error, "nack failed; the message will be redelivered");
            }
            "retry"
        }
        HandleOutcome::DeadLetter(reason) => {
            tracing::error!(%reason, "permanent failure; dead-lettering the message");
            let mut headers = original.headers.clone();
            headers.insert(ERROR_HEADER.to_owned(), reason.clone());
            headers.insert(SOURCE_QUEUE_HEADER.to_owned(), queue.to_owned());
            let copy = OutgoingMessage {
                payload: &original.payload,
                message_id: original.message_id.clone(),
                correlation_id: original.correlation_id.clone(),
                headers,
                mandatory: true,
            };
            match dead_letters
                .publish(&topology.dead_letter_exchange(), role.name(), &copy)
                .await
            {
                Ok(()) => {
                    if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
                        tracing::warn!(%error, "ack after dead-lettering failed");
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "could not dead-letter; requeueing");
                    let requeue = BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    };
                    let _ = delivery.acker.nack(requeue).await;
                }
            }
            "dead_letter"
        }
    }
}
