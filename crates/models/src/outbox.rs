use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::outbox_messages;
use crate::text_enum::text_enum;
use crate::StoreError;

text_enum! {
    /// The logical exchange a message goes to; the broker layer maps it to a real name.
    pub enum OutboxExchange {
        Jobs => "jobs",
        Events => "events",
    }
}

/// A message waiting to be published (or already published) by the outbox relay.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox_messages, check_for_backend(diesel::pg::Pg))]
pub struct OutboxMessage {
    pub id: i64,
    pub exchange: OutboxExchange,
    pub routing_key: String,
    pub message_id: Uuid,
    /// Any message's JSON, made from its typed contract (`concord-messages`) when enqueued and
    /// published as it is: the outbox carries every kind, so it cannot hold one type.
    pub payload: serde_json::Value,
    /// String headers such as `traceparent`, as a JSON object.
    pub headers: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outbox_messages)]
pub struct NewOutboxMessage {
    pub exchange: OutboxExchange,
    pub routing_key: String,
    pub message_id: Uuid,
    /// See [`OutboxMessage::payload`].
    pub payload: serde_json::Value,
    /// String headers such as `traceparent`, as a JSON object.
    pub headers: serde_json::Value,
}

impl OutboxMessage {
    /// Adds a message; call it inside the transaction of the state change it announces.
    pub async fn enqueue(
        conn: &mut AsyncPgConnection,
        message: NewOutboxMessage,
    ) -> Result<(), StoreError> {
        diesel::insert_into(outbox_messages::table)
            .values(message)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Locks up to `limit` unpublished messages, oldest first, skipping those another relay
    /// holds. Call it inside a transaction and mark them published before committing.
    pub async fn claim_unpublished(
        conn: &mut AsyncPgConnection,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        Ok(outbox_messages::table
            .filter(outbox_messages::published_at.is_null())
            .order(outbox_messages::id.asc())
            .limit(limit)
            .select(OutboxMessage::as_select())
            .for_update()
            .skip_locked()
            .load(conn)
            .await?)
    }

    /// The messages not yet published: how many, and when the oldest was written (the relay's
    /// backlog, for the metrics).
    pub async fn backlog(
        conn: &mut AsyncPgConnection,
    ) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
        Ok(outbox_messages::table
            .filter(outbox_messages::published_at.is_null())
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::min(outbox_messages::created_at),
            ))
            .first(conn)
            .await?)
    }

    pub async fn mark_published(
        conn: &mut AsyncPgConnection,
        ids: &[i64],
    ) -> Result<(), StoreError> {
        diesel::update(outbox_messages::table.filter(outbox_messages::id.eq_any(ids)))
            .set((
                outbox_messages::published_at.eq(diesel::dsl::now),
                outbox_messages::attempts.eq(outbox_messages::attempts + 1),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn record_failure(
        conn: &mut AsyncPgConnection,
        id: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        diesel::update(outbox_messages::table.find(id))
            .set((
                outbox_messages::attempts.eq(outbox_messages::attempts + 1),
                outbox_messages::last_error.eq(error),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn count_unpublished(conn: &mut AsyncPgConnection) -> Result<i64, StoreError> {
        Ok(outbox_messages::table
            .filter(outbox_messages::published_at.is_null())
            .count()
            .get_result(conn)
            .await?)
    }
}
