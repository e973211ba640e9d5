use chrono::{DateTime, Utc};
use concord_messages::Event;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::ids::{OrganizationId, WebhookDeliveryId, WebhookEndpointId};
use crate::json::Json;
use crate::schema::{webhook_deliveries, webhook_endpoints};
use crate::text_enum::text_enum;
use crate::StoreError;

text_enum! {
    /// pending → delivered | failed (a failed or delivered one goes back to pending when it is
    /// redelivered by hand)
    pub enum WebhookDeliveryStatus {
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
}

/// One event's delivery to one endpoint. Its id is the `webhook-id` of every attempt.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    pub organization_id: OrganizationId,
    pub event_id: Uuid,
    pub event_type: String,
    /// The event as it was published: the body every attempt sends.
    pub payload: Json<Event>,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    /// When the next attempt is due (`None` once delivered or failed). While an attempt is in
    /// flight it is the end of the sender's lease: a sender that dies mid-attempt leaves the
    /// delivery to be tried again then.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The start of the retry window (reset by a manual redelivery).
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_response_excerpt: Option<String>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewWebhookDelivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    pub organization_id: OrganizationId,
    pub event_id: Uuid,
    pub event_type: String,
    pub payload: Json<Event>,
    pub status: WebhookDeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// What one attempt came to, written onto the delivery.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = webhook_deliveries, treat_none_as_null = true)]
pub struct WebhookAttemptUpdate {
    pub status: WebhookDeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_response_excerpt: Option<String>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl WebhookDelivery {
    /// Adds the deliveries of one event; the ones that already exist (the event was delivered
    /// to this consumer before) are left as they are. Returns how many were added.
    pub async fn insert_new(
        conn: &mut AsyncPgConnection,
        new: &[NewWebhookDelivery],
    ) -> Result<usize, StoreError> {
        if new.is_empty() {
            return Ok(0);
        }
        Ok(diesel::insert_into(webhook_deliveries::table)
            .values(new)
            .on_conflict((
                webhook_deliveries::endpoint_id,
                webhook_deliveries::event_id,
            ))
            .do_nothing()
            .execute(conn)
            .await?)
    }

    /// Takes up to `limit` due deliveries of enabled endpoints, oldest due first, skipping those
    /// another sender holds, and leases them until `lease_until` (their next attempt if this
    /// one never reports back). Commit before sending.
    pub async fn claim_due(
        conn: &mut AsyncPgConnection,
        limit: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let enabled = webhook_endpoints::table
            .filter(webhook_endpoints::enabled.eq(true))
            .select(webhook_endpoints::id);
        let due: Vec<WebhookDeliveryId> = webhook_deliveries::table
            .filter(webhook_deliveries::status.eq(WebhookDeliveryStatus::Pending))
            .filter(webhook_deliveries::next_attempt_at.le(diesel::dsl::now))
            .filter(webhook_deliveries::endpoint_id.eq_any(enabled))
            .order(webhook_deliveries::next_attempt_at.asc())
            .limit(limit)
            .select(webhook_deliveries::id)
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        Ok(
            diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&due)))
                .set((
                    webhook_deliveries::next_attempt_at.eq(lease_until),
                    webhook_deliveries::first_attempt_at.eq(diesel::dsl::sql::<
                        diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                    >(
                        "coalesce(first_attempt_at, now())"
                    )),
                ))
                .returning(WebhookDelivery::as_returning())
                .load(conn)
                .await?,
        )
    }

    /// Records an attempt (one more counted).
    pub async fn record_attempt(
        conn: &mut AsyncPgConnection,
        id: WebhookDeliveryId,
        update: WebhookAttemptUpdate,
    ) -> Result<WebhookDelivery, StoreError> {
        Ok(diesel::update(webhook_deliveries::table.find(id))
            .set((
                update,
                webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                webhook_deliveries::updated_at.eq(diesel::dsl::now),
            ))
            .returning(WebhookDelivery::as_returning())
            .get_result(conn)
            .await?)
    }

    /// The endpoint's deliveries, newest first, older than the cursor.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        endpoint_id: WebhookEndpointId,
        before: Option<WebhookDeliveryId>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let mut query = webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
            .order(webhook_deliveries::id.desc())
            .limit(limit)
            .select(WebhookDelivery::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(webhook_deliveries::id.lt(before));
        }
        Ok(query.load(conn).await?)
    }

    /// The endpoint's delivery; `None` for another endpoint's.
    pub async fn find(
        conn: &mut AsyncPgConnection,
        endpoint_id: WebhookEndpointId,
        id: WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        Ok(webhook_deliveries::table
            .find(id)
            .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
            .select(WebhookDelivery::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// Every delivery of an event (to any endpoint).
    pub async fn of_event(
        conn: &mut AsyncPgConnection,
        event_id: Uuid,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        Ok(webhook_deliveries::table
            .filter(webhook_deliveries::event_id.eq(event_id))
            .order(webhook_deliveries::id.asc())
            .select(WebhookDelivery::as_select())
            .load(conn)
            .await?)
    }

    /// Queues the endpoint's delivery for another attempt now, with a new retry window (the
    /// same id, so the receiver can tell it is the same message). `None` when the delivery is
    /// not the endpoint's.
    pub async fn redeliver(
        conn: &mut AsyncPgConnection,
        endpoint_id: WebhookEndpointId,
        id: WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        Ok(diesel::update(
            webhook_deliveries::table
                .find(id)
                .filter(webhook_deliveries::endpoint_id.eq(endpoint_id)),
        )
        .set((
            webhook_deliveries::status.eq(WebhookDeliveryStatus::Pending),
            webhook_deliveries::next_attempt_at.eq(diesel::dsl::now),
            webhook_deliveries::first_attempt_at.eq(None::<DateTime<Utc>>),
            webhook_deliveries::updated_at.eq(diesel::dsl::now),
        ))
        .returning(WebhookDelivery::as_returning())
        .get_result(conn)
        .await
        .optional()?)
    }
}
