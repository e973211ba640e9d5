use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::WebhookDeliveryId;
use crate::schema::webhook_delivery_attempts;
use crate::StoreError;

/// One attempt of a webhook delivery: what the receiver answered, or why there was no answer.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_delivery_attempts, check_for_backend(diesel::pg::Pg))]
pub struct WebhookDeliveryAttempt {
    pub id: i64,
    pub delivery_id: WebhookDeliveryId,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    /// The first bytes of the answer (bounded by the sender).
    pub response_excerpt: Option<String>,
    /// Why the attempt failed; `None` for a 2xx answer.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_delivery_attempts)]
pub struct NewWebhookDeliveryAttempt {
    pub delivery_id: WebhookDeliveryId,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

impl WebhookDeliveryAttempt {
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewWebhookDeliveryAttempt,
    ) -> Result<(), StoreError> {
        diesel::insert_into(webhook_delivery_attempts::table)
            .values(new)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The delivery's attempts, first to last (at most `limit`, the latest ones).
    pub async fn of_delivery(
        conn: &mut AsyncPgConnection,
        delivery_id: WebhookDeliveryId,
        limit: i64,
    ) -> Result<Vec<WebhookDeliveryAttempt>, StoreError> {
        let mut latest: Vec<WebhookDeliveryAttempt> = webhook_delivery_attempts::table
            .filter(webhook_delivery_attempts::delivery_id.eq(delivery_id))
            .order(webhook_delivery_attempts::id.desc())
            .limit(limit)
            .select(WebhookDeliveryAttempt::as_select())
            .load(conn)
            .await?;
        latest.reverse();
        Ok(latest)
    }
}
