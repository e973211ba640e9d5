//! The consume loop against the real RabbitMQ: a handler that panics does not leave its message
//! unacknowledged — it is delivered again, and handled.

// Test code: the handler under test panics on purpose; a counter metric (a whole f64) read as u64.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::panic
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use concord_queue::consumer::ConsumerMetrics;
use concord_queue::{
    run_consumer, ConsumerConfig, HandleOutcome, IncomingMessage, MessageHandler, Role,
};
use concord_test_support::broker::{amqp_url, declare, publish, test_topology};
use concord_test_support::eventually;
use tokio_util::sync::CancellationToken;

/// Panics on the first delivery of every message (a bug in a handler), acks the next.
struct PanicsOnce {
    calls: AtomicUsize,
}

impl MessageHandler for PanicsOnce {
    async fn handle(&self, message: IncomingMessage) -> HandleOutcome {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("a bug in the handler of {:?}", message.message_id);
        }
        HandleOutcome::Ack
    }
}

fn handled(registry: &prometheus::Registry, outcome: &str) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == "concord_messages_handled_total")
        .flat_map(|family| family.get_metric())
        .filter(|metric| {
            metric
                .get_label()
                .iter()
                .any(|label| label.name() == "outcome" && label.value() == outcome)
        })
        .map(|metric| metric.get_counter().get_value() as u64)
        .sum()
}

#[tokio::test]
async fn a_message_whose_handler_panicked_is_delivered_again() {
    let topology = test_topology();
    let (_connection, _channel) = declare(&topology).await;
    let registry = prometheus::Registry::new();
    let metrics = ConsumerMetrics::register(&registry).expect("metrics");
    let handler = Arc::new(PanicsOnce {
        calls: AtomicUsize::new(0),
    });
    let shutdown = CancellationToken::new();
    let consumer = tokio::spawn(run_consumer(
        ConsumerConfig {
            amqp_url: amqp_url(),
            topology: (*topology).clone(),
            role: Role::Matching,
            concurrency: 2,
            connection_name: "test-consumer".to_owned(),
        },
        handler.clone(),
        metrics,
        shutdown.clone(),
    ));
    publish(
        &topology.jobs_exchange(),
        Role::Matching.name(),
        "m-1",
        b"{}",
        HashMap::new(),
    )
    .await;
    eventually(Duration::from_secs(20), "the message acked", || async {
        (handled(&registry, "ack") == 1).then_some(())
    })
    .await;
    assert_eq!(handler.calls.load(Ordering::SeqCst), 2);
    assert_eq!(handled(&registry, "retry"), 1);
    shutdown.cancel();
    consumer.await.expect("the consumer stops");
}
