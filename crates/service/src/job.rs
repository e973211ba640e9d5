//! Transactional job handling: a message's effect and the record that it was handled commit
//! together, and only then is the message acknowledged. A redelivered message changes nothing.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Notify;

use concord_models::database::connection;
use concord_models::processed_messages::ProcessedMessage;
use concord_models::{DbPool, StoreError};
use concord_queue::{HandleOutcome, IncomingMessage, MessageHandler};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::de::DeserializeOwned;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum JobError {
    /// The job can never succeed (it names a run that does not exist, say).
    #[error("{0}")]
    Permanent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The worker is stopping in the middle of a long job whose finished part is stored (the AI
    /// pass, batch by batch): the message goes back to the queue, and its next delivery does the
    /// rest.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl From<diesel::result::Error> for JobError {
    fn from(error: diesel::result::Error) -> Self {
        JobError::Store(StoreError::Query(error))
    }
}

/// Deliveries after which a recurring database error (other than a lost connection) is taken
/// as permanent.
const GIVE_UP_AFTER: u32 = 2;

/// The work a worker does for one message, inside the transaction that also records it handled.
pub trait JobHandler: Send + Sync + 'static {
    /// The message contract the queue carries.
    type Job: DeserializeOwned + Send + Sync;
    /// The name under which handled messages are recorded.
    const CONSUMER: &'static str;

    fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        job: &Self::Job,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// Runs a [`JobHandler`] as a [`MessageHandler`]. After a transaction commits, the outbox relay
/// is woken: what the job enqueued is published at once, not at the relay's next poll (a wake
/// from inside the transaction could reach the relay before the commit, and find nothing).
pub struct TransactionalHandler<H> {
    pool: DbPool,
    inner: H,
    outbox_waker: Arc<Notify>,
}

impl<H: JobHandler> TransactionalHandler<H> {
    pub fn new(pool: DbPool, inner: H, outbox_waker: Arc<Notify>) -> Self {
        Self {
            pool,
            inner,
            outbox_waker,
        }
    }
}

impl<H: JobHandler> MessageHandler for TransactionalHandler<H> {
    async fn handle(&self, message: IncomingMessage) -> HandleOutcome {
        let job: H::Job = match serde_json::from_slice(&message.payload) {
            Ok(job) => job,
            Err(error) => {
                return HandleOutcome::DeadLetter(format!(
                    "the message is not a valid {}: {error}",
                    std::any::type_name::<H::Job>()
                        .rsplit("::")
                        .next()
                        .unwrap_or("job")
                ))
            }
        };
        let Some(message_id) = message.message_id.clone() else {
            return HandleOutcome::DeadLetter(
                "the message has no message_id, so it cannot be handled exactly once".to_owned(),
            );
        };
        let mut conn = match connection(&self.pool).await {
            Ok(conn) => conn,
            Err(error) => return HandleOutcome::Retry(error.to_string()),
        };
        let inner = &self.inner;
        let result = conn
            .transaction::<_, JobError, _>(async |conn| {
                if !ProcessedMessage::record(conn, H::CONSUMER, &message_id).await? {
                    tracing::info!(%message_id, "already handled; acknowledging the redelivery");
                    return Ok(());
                }
                inner.apply(conn, &job).await
            })
            .await;
        match result {
            Ok(()) => {
                self.outbox_waker.notify_one();
                HandleOutcome::Ack
            }
            Err(JobError::Permanent(reason)) => HandleOutcome::DeadLetter(reason),
            // A failure that is not a lost connection and keeps recurring is given up on, with its
            // reason; anything else is retried until the queue's delivery limit.
            Err(JobError::Store(error))
                if !error.is_transient() && message.delivery_count >= GIVE_UP_AFTER =>
            {
                HandleOutcome::DeadLetter(format!(
                    "gave up after {} deliveries: {error}",
                    message.delivery_count + 1
                ))
            }
            Err(JobError::Store(error)) => HandleOutcome::Retry(error.to_string()),
            Err(error @ JobError::Interrupted(_)) => HandleOutcome::Retry(error.to_string()),
        }
    }
}
