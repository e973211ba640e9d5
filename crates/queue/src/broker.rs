//! Connections to RabbitMQ, with retry.

use std::time::Duration;

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
