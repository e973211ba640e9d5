use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::schema::processed_messages;
use crate::StoreError;

/// The ledger of messages a consumer has handled. Recorded in the same transaction as the
/// message's effect, it makes a redelivered message a no-op.
pub struct ProcessedMessage;

impl ProcessedMessage {
    /// Records the message; false when this consumer had already handled it.
    pub async fn record(
        conn: &mut AsyncPgConnection,
        consumer: &str,
        message_id: &str,
    ) -> Result<bool, StoreError> {
        let inserted = diesel::insert_into(processed_messages::table)
            .values((
                processed_messages::consumer.eq(consumer),
                processed_messages::message_id.eq(message_id),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        Ok(inserted == 1)
    }

    pub async fn exists(
        conn: &mut AsyncPgConnection,
        consumer: &str,
        message_id: &str,
    ) -> Result<bool, StoreError> {
        let count: i64 = processed_messages::table
            .filter(processed_messages::consumer.eq(consumer))
            .filter(processed_messages::message_id.eq(message_id))
            .count()
            .get_result(conn)
            .await?;
        Ok(count > 0)
    }
}
