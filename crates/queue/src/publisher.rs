//! Publishing with publisher confirms: a publish returns only once the broker has taken the
//! message (or refused it).

use std::collections::HashMap;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection};
use lapin::{Confirmation, PublisherConfirm};

use crate::headers::to_field_table;
use crate::QueueError;

/// A message to publish.
#[derive(Debug, Clone, Default)]
pub struct OutgoingMessage<'a> {
    pub payload: &'a [u8],
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub headers: HashMap<String, String>,
    /// Have the broker return the message when no queue is bound for it (an error here). Right
    /// for work that must reach a queue; wrong for events, which may have no subscriber.
    pub mandatory: bool,
}

/// A channel in confirm mode.
pub struct Publisher {
    channel: Channel,
}

/// A publish whose confirmation has not been awaited yet.
pub struct PendingConfirm {
    confirm: PublisherConfirm,
    exchange: String,
    routing_key: String,
}

impl Publisher {
    pub async fn open(connection: &Connection) -> Result<Self, QueueError> {
        let channel = connection
            .create_channel()
            .await
            .map_err(QueueError::broker("channel.open"))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(QueueError::broker("confirm.select"))?;
        Ok(Self { channel })
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes and waits for the broker's confirmation.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &OutgoingMessage<'_>,
    ) -> Result<(), QueueError> {
        self.start_publish(exchange, routing_key, message)
            .await?
            .confirmed()
            .await
    }

    /// Sends the message without waiting: await [`PendingConfirm::confirmed`] afterwards, so that
    /// a batch costs one round trip instead of one per message.
    pub async fn start_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &OutgoingMessage<'_>,
    ) -> Result<PendingConfirm, QueueError> {
        self.start_publish_with(exchange, routing_key, message, |properties| properties)
            .await
    }

    /// [`Publisher::publish`] with properties of the caller's on top of the usual ones (a
    /// request's `reply-to` and expiry, say).
    pub async fn publish_with(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &OutgoingMessage<'_>,
        customise: impl FnOnce(BasicProperties) -> BasicProperties,
    ) -> Result<(), QueueError> {
        self.start_publish_with(exchange, routing_key, message, customise)
            .await?
            .confirmed()
            .await
    }

    async fn start_publish_with(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &OutgoingMessage<'_>,
        customise: impl FnOnce(BasicProperties) -> BasicProperties,
    ) -> Result<PendingConfirm, QueueError> {
        let mut properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            // Seconds since the epoch, as AMQP's timestamp is: the consumer's lag is read from it.
            .with_timestamp(unix_seconds(std::time::SystemTime::now()))
            .with_headers(to_field_table(&message.headers));
        if let Some(id) = &message.message_id {
            properties = properties.with_message_id(id.as_str().into());
        }
        if let Some(id) = &message.correlation_id {
            properties = properties.with_correlation_id(id.as_str().into());
        }
        let properties = customise(properties);
        let confirm = self
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: message.mandatory,
                    ..BasicPublishOptions::default()
                },
                message.payload,
                properties,
            )
            .await
            .map_err(QueueError::broker("basic.publish"))?;
        Ok(PendingConfirm {
            confirm,
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
        })
    }
}

impl PendingConfirm {
    pub async fn confirmed(self) -> Result<(), QueueError> {
        let confirmation = self
            .confirm
            .await
            .map_err(QueueError::broker("publisher confirm"))?;
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_returned)) => Err(QueueError::Unroutable {
                exchange: self.exchange,
                routing_key: self.routing_key,
            }),
            Confirmation::Nack(_) | Confirmation::NotRequested => Err(QueueError::Nacked {
                exchange: self.exchange,
                routing_key: self.routing_key,
            }),
        }
    }
}

/// Seconds since the Unix epoch (0 for a clock set before it).
fn unix_seconds(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
