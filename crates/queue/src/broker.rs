//! Connections to RabbitMQ, with retry.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

use crate::QueueError;

pub async fn connect(url: &str, connection_name: &str) -> Result<Connection, QueueError> {
    let properties = ConnectionProperties::default().with_connection_name(connection_name.into());
    Connection::connect(url, properties)
        .await
        .map_err(|source| QueueError::Connect {
            url: concord_models::database::redact(url),
            source,
        })
}

/// Connects, retrying with exponential backoff (250 ms up to 5 s) until it succeeds; `None` if
/// `shutdown` fires first.
pub async fn connect_with_retry(
    url: &str,
    connection_name: &str,
    shutdown: &CancellationToken,
) -> Option<Connection> {
    let mut delay = Duration::from_millis(250);
    loop {
        match connect(url, connection_name).await {
            Ok(connection) => return Some(connection),
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "broker unreachable");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Opens and closes a connection: the readiness check of the services.
pub async fn ping(url: &str) -> Result<(), QueueError> {
    let timeout = Duration::from_secs(3);
    let connection = tokio::time::timeout(timeout, connect(url, "concord-readiness"))
        .await
        .map_err(|_| QueueError::Timeout(timeout))??;
    let _ = connection.close(200, "readiness check done".into()).await;
    Ok(())
}

/// How many messages wait in each of `queues` and how many consumers each has, read with a
/// passive declare (which changes nothing) on one short-lived connection.
pub async fn queue_depths(url: &str, queues: &[String]) -> Result<Vec<QueueDepth>, QueueError> {
    let connection = connect(url, "concord-metrics").await?;
    let result = async {
        let channel = connection
            .create_channel()
            .await
            .map_err(QueueError::broker("channel.open"))?;
        let mut depths = Vec::with_capacity(queues.len());
        for queue in queues {
            let declared = channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(QueueError::broker("queue.declare (passive)"))?;
            depths.push(QueueDepth {
                messages: declared.message_count(),
                consumers: declared.consumer_count(),
            });
        }
        Ok(depths)
    }
    .await;
    let _ = connection.close(200, "metrics read".into()).await;
    result
}

/// A queue as a passive declare sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    /// Messages ready for delivery (not those delivered and unacknowledged).
    pub messages: u32,
    pub consumers: u32,
}
