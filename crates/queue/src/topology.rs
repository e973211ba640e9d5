//! Every exchange and queue, named under one namespace so that tests (and several deployments on
//! one broker) stay apart. Declaring is idempotent and done by every service at start-up and after
//! each reconnection.

use concord_models::outbox::OutboxExchange;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::QueueError;

/// The consumers of the system: one quorum queue (and one dead-letter queue) each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Matching,
    Resolution,
    Ai,
    /// The gateway's consumer of upstream job submissions.
    Intake,
    /// The webhook sender's copy of every event (bound to the events exchange with `#`), so
    /// that events published while the sender is down wait for it.
    Webhooks,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Matching,
        Role::Resolution,
        Role::Ai,
        Role::Intake,
        Role::Webhooks,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Role::Matching => "matching",
            Role::Resolution => "resolution",
            Role::Ai => "ai",
            Role::Intake => "intake",
            Role::Webhooks => "webhooks",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Topology {
    namespace: String,
    /// Deliveries after which a message goes to the dead-letter queue.
    pub delivery_limit: u32,
    /// Deletes queues left unused this long (tests only; production queues never expire).
    pub queue_expires_ms: Option<u32>,
}

impl Topology {
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            delivery_limit: 5,
            queue_expires_ms: None,
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Direct exchange of the work queues; routing key = role name.
    pub fn jobs_exchange(&self) -> String {
        format!("{}.jobs", self.namespace)
    }

    /// Topic exchange of state-change events; routing key = event type.
    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.namespace)
    }

    /// Topic exchange where upstream systems submit batches (`job.submit.v1`).
    pub fn intake_exchange(&self) -> String {
        format!("{}.intake", self.namespace)
    }

    /// Direct exchange receiving what the queues reject; routing key = role name.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dead-letter", self.namespace)
    }

    pub fn queue(&self, role: Role) -> String {
        format!("{}.{}", self.namespace, role.name())
    }

    pub fn dead_letter_queue(&self, role: Role) -> String {
        format!("{}.{}.dead", self.namespace, role.name())
    }

    pub fn exchange_for(&self, exchange: OutboxExchange) -> String {
        match exchange {
            OutboxExchange::Jobs => self.jobs_exchange(),
            OutboxExchange::Events => self.events_exchange(),
        }
    }

    /// Declares everything (idempotent).
    pub async fn declare(&self, channel: &Channel) -> Result<(), QueueError> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        for (name, kind) in [
            (self.jobs_exchange(), ExchangeKind::Direct),
            (self.events_exchange(), ExchangeKind::Topic),
            (self.intake_exchange(), ExchangeKind::Topic),
            (self.dead_letter_exchange(), ExchangeKind::Direct),
        ] {
            channel
                .exchange_declare(name.as_str().into(), kind, durable, FieldTable::default())
                .await
                .map_err(QueueError::broker("exchange.declare"))?;
        }

        for role in Role::ALL {
            let mut dead_letter_args = self.quorum_args();
            self.declare_queue(
                channel,
                &self.dead_letter_queue(role),
                &mut dead_letter_args,
            )
            .await?;
            self.bind(
                channel,
                &self.dead_letter_queue(role),
                &self.dead_letter_exchange(),
                role.name(),
            )
            .await?;

            let mut args = self.quorum_args();
            args.insert(
                "x-dead-letter-exchange".into(),
                long_string(&self.dead_letter_exchange()),
            );
            args.insert("x-dead-letter-routing-key".into(), long_string(role.name()));
            args.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongInt(i32::try_from(self.delivery_limit).unwrap_or(i32::MAX)),
            );
            self.declare_queue(channel, &self.queue(role), &mut args)
                .await?;
            match role {
                Role::Intake => {
                    self.bind(
                        channel,
                        &self.queue(role),
                        &self.intake_exchange(),
                        "job.submit.v1",
                    )
                    .await?
                }
                Role::Webhooks => {
                    self.bind(channel, &self.queue(role), &self.events_exchange(), "#")
                        .await?
                }
                _ => {
                    self.bind(
                        channel,
                        &self.queue(role),
                        &self.jobs_exchange(),
                        role.name(),
                    )
                    .await?
                }
            }
        }
        Ok(())
    }

    fn quorum_args(&self) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), long_string("quorum"));
        if let Some(expires) = self.queue_expires_ms {
            args.insert(
                "x-expires".into(),
                AMQPValue::LongInt(i32::try_from(expires).unwrap_or(i32::MAX)),
            );
        }
        args
    }

    async fn declare_queue(
        &self,
        channel: &Channel,
        name: &str,
        args: &mut FieldTable,
    ) -> Result<(), QueueError> {
        channel
            .queue_declare(
                name.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                std::mem::take(args),
            )
            .await
            .map_err(QueueError::broker("queue.declare"))?;
        Ok(())
    }

    async fn bind(
        &self,
        channel: &Channel,
        queue: &str,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), QueueError> {
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(QueueError::broker("queue.bind"))
    }

    /// Deletes every queue and exchange of the namespace (tests clean up with it).
    pub async fn delete(&self, channel: &Channel) -> Result<(), QueueError> {
        use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
        for role in Role::ALL {
            for queue in [self.queue(role), self.dead_letter_queue(role)] {
                channel
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await
                    .map_err(QueueError::broker("queue.delete"))?;
            }
        }
        for exchange in [
            self.jobs_exchange(),
            self.events_exchange(),
            self.intake_exchange(),
            self.dead_letter_exchange(),
        ] {
            channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await
                .map_err(QueueError::broker("exchange.delete"))?;
        }
        Ok(())
    }
}

fn long_string(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text))
}
