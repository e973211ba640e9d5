//! RabbitMQ for every service, through lapin.
//!
//! - [`topology`]: the exchanges and quorum queues, declared idempotently at start-up;
//! - [`publisher`]: publishing with publisher confirms, `mandatory` so that nothing is silently
//!   dropped;
//! - [`consumer`]: the consume loop with manual ack after the handler's commit, retry,
//!   dead-lettering with a reason, reconnection and drain on shutdown;
//! - [`relay`]: the outbox relay that publishes what the services committed;
//! - [`rpc`]: request and reply (direct reply-to) for answers wanted now.

pub mod broker;
pub mod consumer;
pub mod error;
pub mod headers;
pub mod publisher;
pub mod relay;
pub mod rpc;
pub mod topology;

pub use consumer::{run_consumer, ConsumerConfig, HandleOutcome, IncomingMessage, MessageHandler};
pub use error::QueueError;
pub use publisher::{OutgoingMessage, Publisher};
pub use relay::OutboxRelay;
pub use topology::{Role, Topology};
