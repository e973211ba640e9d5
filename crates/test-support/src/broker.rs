use std::collections::HashMap;
use std::time::Duration;

use concord_queue::Topology;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};

pub fn amqp_url() -> String {
    std::env::var("CONCORD_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// A topology under a namespace of its own; its queues and exchanges are deleted when the guard
/// is dropped, at the end of the test (panicking or not).
pub fn test_topology() -> TestTopology {
    let mut topology = Topology::new(format!("test-{}", uuid::Uuid::new_v4().simple()));
    topology.delivery_limit = 3;
    TestTopology(topology)
}

pub struct TestTopology(Topology);

impl std::ops::Deref for TestTopology {
    type Target = Topology;
    fn deref(&self) -> &Topology {
        &self.0
    }
}

impl Drop for TestTopology {
    fn drop(&mut self) {
        let topology = self.0.clone();
        // Drop can't await: clean up on a thread with a runtime of its own, and wait for it.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(connection) =
                    concord_queue::broker::connect(&amqp_url(), "test-cleanup").await
                else {
                    return;
                };
                if let Ok(channel) = connection.create_channel().await {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(30), topology.delete(&channel))
                            .await;
                }
                let _ = connection.close(200, "cleaned up".into()).await;
            });
        });
        let _ = cleanup.join();
    }
}

/// Declares the topology (as a service would at start-up) and returns a channel on it.
pub async fn declare(topology: &Topology) -> (Connection, Channel) {
    let connection = concord_queue::broker::connect(&amqp_url(), "test")
        .await
        .expect("connecting to RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    topology
        .declare(&channel)
        .await
        .expect("declaring the topology");
    (connection, channel)
}

/// A message read by a [`Tap`].
#[derive(Debug, Clone)]
pub struct TapMessage {
    pub routing_key: String,
    pub headers: HashMap<String, String>,
    pub message_id: Option<String>,
    pub body: serde_json::Value,
}

/// A private queue bound to an exchange: what a subscriber would receive.
pub struct Tap {
    _connection: Connection,
    consumer: Consumer,
}

impl Tap {
    pub async fn bind(exchange: &str, routing_pattern: &str) -> Tap {
        let connection = concord_queue::broker::connect(&amqp_url(), "test-tap")
            .await
            .expect("connecting to RabbitMQ");
        let channel = connection.create_channel().await.expect("a channel");
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declaring the tap queue");
        channel
            .queue_bind(
                queue.name().clone(),
                exchange.into(),
                routing_pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("binding the tap queue");
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "tap".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consuming the tap queue");
        Tap {
            _connection: connection,
            consumer,
        }
    }

    /// The next message, or `None` after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<TapMessage> {
        let delivery = tokio::time::timeout(timeout, self.consumer.next())
            .await
            .ok()??
            .ok()?;
        let _ = delivery.acker.ack(BasicAckOptions::default()).await;
        Some(TapMessage {
            routing_key: delivery.routing_key.as_str().to_owned(),
            headers: concord_queue::headers::from_field_table(
                delivery.properties.headers().as_ref(),
            ),
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(|m| m.as_str().to_owned()),
            body: serde_json::from_slice(&delivery.data).unwrap_or(serde_json::Value::Null),
        })
    }
}

/// Publishes as an outside producer would: straight to the broker, confirmed, with a message id.
pub async fn publish(
    exchange: &str,
    routing_key: &str,
    message_id: &str,
    payload: &[u8],
    headers: HashMap<String, String>,
) {
    let connection = concord_queue::broker::connect(&amqp_url(), "test-producer")
        .await
        .expect("connecting to RabbitMQ");
    let publisher = concord_queue::Publisher::open(&connection)
        .await
        .expect("a publisher");
    publisher
        .publish(
            exchange,
            routing_key,
            &concord_queue::OutgoingMessage {
                payload,
                message_id: Some(message_id.to_owned()),
                correlation_id: None,
                headers,
                mandatory: true,
            },
        )
        .await
        .expect("published");
    let _ = connection.close(200, "published".into()).await;
}
