//! Request and reply over RabbitMQ, for questions that want an answer now (a real-time match):
//! the caller publishes to a service's request queue through the default exchange with RabbitMQ's
//! direct reply-to (`amq.rabbitmq.reply-to`) and waits, bounded, for the reply with its
//! correlation id; whichever server instance takes the request answers it. Nothing is stored:
//! a request that is not answered in time expires in the queue (its per-message TTL is the
//! caller's deadline) and the caller hears [`RpcError::Timeout`], never a hang.
//!
//! - [`RpcClient`]: one channel shared by every call of a process, opened on first use and again
//!   after the broker went away.
//! - [`serve`]: consumes a request queue and answers each request with a handler, reconnecting
//!   whenever the broker goes away; on shutdown it answers what it holds and returns.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};
use thiserror::Error;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::broker::{connect, connect_with_retry};
use crate::publisher::{OutgoingMessage, Publisher};
use crate::QueueError;

/// The pseudo-queue of RabbitMQ's direct reply-to.
const REPLY_TO: &str = "amq.rabbitmq.reply-to";

#[derive(Debug, Error)]
pub enum RpcError {
    /// The broker cannot be reached, or refused the request.
    #[error("the broker is unavailable: {0}")]
    Broker(#[from] QueueError),
    /// No queue takes requests of this kind: no server has ever started.
    #[error("no server listens on `{0}`")]
    NoServer(String),
    /// No server answered in time.
    #[error("no answer on `{queue}` within {timeout:?}")]
    Timeout { queue: String, timeout: Duration },
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

/// An open channel with its reply consumer.
struct Link {
    _connection: Connection,
    publisher: Publisher,
    pending: Pending,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Link {
    async fn open(amqp_url: &str, connection_name: &str) -> Result<Link, QueueError> {
        let connection = connect(amqp_url, connection_name).await?;
        let publisher = Publisher::open(&connection).await?;
        let mut replies = publisher
            .channel()
            .basic_consume(
                REPLY_TO.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(QueueError::broker("basic.consume (reply-to)"))?;
        let pending: Pending = Arc::default();
        let waiting = Arc::clone(&pending);
        let reader = tokio::spawn(async move {
            while let Some(Ok(delivery)) = replies.next().await {
                let Some(id) = delivery.properties.correlation_id() else {
                    continue;
                };
                let waiter = lock(&waiting).remove(id.as_str());
                if let Some(waiter) = waiter {
                    // The caller may have given up meanwhile; then nobody wants the reply.
                    let _ = waiter.send(delivery.data);
                }
            }
        });
        Ok(Link {
            _connection: connection,
            publisher,
            pending,
            reader,
        })
    }

    fn is_open(&self) -> bool {
        self.publisher.channel().status().connected() && !self.reader.is_finished()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every change under the lock is one insert or remove: a poisoned map is still whole.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// See the module documentation.
pub struct RpcClient {
    amqp_url: String,
    connection_name: String,
    link: tokio::sync::Mutex<Option<Arc<Link>>>,
}

impl RpcClient {
    /// A client that connects on its first call.
    pub fn new(amqp_url: impl Into<String>, connection_name: impl Into<String>) -> Self {
        Self {
            amqp_url: amqp_url.into(),
            connection_name: connection_name.into(),
            link: tokio::sync::Mutex::new(None),
        }
    }

    async fn link(&self) -> Result<Arc<Link>, QueueError> {
        let mut held = self.link.lock().await;
        if let Some(link) = held.as_ref().filter(|link| link.is_open()) {
            return Ok(Arc::clone(link));
        }
        let link = Arc::new(Link::open(&self.amqp_url, &self.connection_name).await?);
        *held = Some(Arc::clone(&link));
        Ok(link)
    }

    /// Sends `request` to `queue` and waits at most `timeout` for its reply.
    pub async fn call(
        &self,
        queue: &str,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, RpcError> {
        let link = self.link().await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (sender, receiver) = oneshot::channel();
        lock(&link.pending).insert(id.clone(), sender);
        let answer = async {
            let publish = link
                .publisher
                .publish_with(
                    "",
                    queue,
                    &OutgoingMessage {
                        payload: request,
                        correlation_id: Some(id.clone()),
                        mandatory: true,
                        ..OutgoingMessage::default()
                    },
                    |properties| {
                        properties
                            .with_reply_to(REPLY_TO.into())
                            .with_delivery_mode(1)
                            .with_expiration(timeout.as_millis().to_string().into())
                    },
                )
                .await;
            match publish {
                Ok(()) => {}
                Err(QueueError::Unroutable { .. }) => {
                    return Err(RpcError::NoServer(queue.to_owned()));
                }
                Err(error) => return Err(RpcError::Broker(error)),
            }
            receiver.await.map_err(|_| RpcError::Timeout {
                queue: queue.to_owned(),
                timeout,
            })
        };
        let outcome = tokio::time::timeout(timeout, answer).await;
        lock(&link.pending).remove(&id);
        match outcome {
            Ok(answered) => answered,
            Err(_) => Err(RpcError::Timeout {
                queue: queue.to_owned(),
                timeout,
            }),
        }
    }
}

/// Where and how [`serve`] takes requests.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub amqp_url: String,
    pub connection_name: String,
    /// The request queue (declared here: classic, not durable — a request lives no longer
    /// than its caller waits).
    pub queue: String,
    /// Requests answered at once.
    pub concurrency: u16,
    /// Deletes the queue when it has been unused this long (tests only).
    pub queue_expires_ms: Option<u32>,
}

/// Answers the requests of `config.queue` with `handler` until `shutdown` fires.
pub async fn serve<F, Fut>(config: ServeConfig, handler: Arc<F>, shutdown: CancellationToken)
where
    F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send + 'static,
{
    loop {
        let Some(connection) =
            connect_with_retry(&config.amqp_url, &config.connection_name, &shutdown).await
        else {
            return;
        };
        match serve_on(&connection, &config, &handler, &shutdown).await {
            Ok(()) => {
                let _ = connection.close(200, "shutting down".into()).await;
                tracing::info!(queue = %config.queue, "request server stopped");
                return;
            }
            Err(error) => {
                tracing::warn!(queue = %config.queue, %error, "request server lost its broker connection; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}

async fn serve_on<F, Fut>(
    connection: &Connection,
    config: &ServeConfig,
    handler: &Arc<F>,
    shutdown: &CancellationToken,
) -> Result<(), QueueError>
where
    F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send + 'static,
{
    let channel = connection
        .create_channel()
        .await
        .map_err(QueueError::broker("channel.open"))?;
    let mut args = FieldTable::default();
    if let Some(expires) = config.queue_expires_ms {
        args.insert("x-expires".into(), AMQPValue::LongUInt(expires));
    }
    channel
        .queue_declare(
            config.queue.as_str().into(),
            QueueDeclareOptions::default(),
            args,
        )
        .await
        .map_err(QueueError::broker("queue.declare"))?;
    channel
        .basic_qos(config.concurrency.max(1), BasicQosOptions::default())
        .await
        .map_err(QueueError::broker("basic.qos"))?;
    let tag = format!(
        "{}-{}",
        config.connection_name,
        uuid::Uuid::new_v4().simple()
    );
    let mut requests = channel
        .basic_consume(
            config.queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(QueueError::broker("basic.consume"))?;
    tracing::info!(queue = %config.queue, "answering requests");
    let mut in_flight = JoinSet::new();
    let result = loop {
        while in_flight.len() >= usize::from(config.concurrency.max(1)) {
            in_flight.join_next().await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                break Ok(());
            }
            delivery = requests.next() => match delivery {
                Some(Ok(delivery)) => {
                    let handler = Arc::clone(handler);
                    let channel = channel.clone();
                    in_flight.spawn(async move {
                        answer(&channel, delivery, &*handler).await;
                    });
                }
                Some(Err(error)) => break Err(QueueError::Broker { operation: "basic.consume", source: error }),
                None => break Err(QueueError::ConsumerClosed),
            }
        }
    };
    while in_flight.join_next().await.is_some() {}
    result
}

async fn answer<F, Fut>(channel: &Channel, delivery: lapin::message::Delivery, handler: &F)
where
    F: Fn(Vec<u8>) -> Fut,
    Fut: Future<Output = Vec<u8>>,
{
    let reply_to = delivery.properties.reply_to().clone();
    let correlation_id = delivery.properties.correlation_id().clone();
    let tag = delivery.delivery_tag;
    match reply_to {
        Some(reply_to) => {
            let reply = handler(delivery.data).await;
            let mut properties =
                BasicProperties::default().with_content_type("application/json".into());
            if let Some(id) = correlation_id {
                properties = properties.with_correlation_id(id);
            }
            let published = channel
                .basic_publish(
                    "".into(),
                    reply_to.as_str().into(),
                    BasicPublishOptions::default(),
                    &reply,
                    properties,
                )
                .await;
            if let Err(error) = published {
                // The caller hears a timeout; the request is not redelivered (it has a caller
                // no longer).
                tracing::warn!(%error, "a reply could not be sent");
            }
        }
        None => tracing::warn!("a request without reply-to was dropped"),
    }
    if let Err(error) = channel.basic_ack(tag, BasicAckOptions::default()).await {
        tracing::warn!(%error, "a request could not be acknowledged");
    }
}
