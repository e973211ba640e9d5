use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::OrganizationId;
use crate::schema::idempotency_keys;
use crate::StoreError;

/// How long a key's first response is replayed.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);
/// A reservation whose request never finished (the gateway died) is taken over after this.
const ABANDONED_AFTER: Duration = Duration::minutes(10);

/// A POST's `Idempotency-Key`: reserved when the request starts, completed with the response.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::pg::Pg))]
pub struct IdempotencyKey {
    pub organization_id: OrganizationId,
    pub key: String,
    pub request_hash: Option<Vec<u8>>,
    pub response_status: Option<i32>,
    pub response_body: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
}

/// What reserving a key found.
#[derive(Debug)]
pub enum Reservation {
    /// The key is ours: run the request, then `complete` or `release` it.
    Reserved,
    /// A request with this key finished earlier: its response is to be replayed.
    Completed(IdempotencyKey),
    /// A request with this key is still running.
    InProgress,
}

impl IdempotencyKey {
    pub async fn reserve(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        key: &str,
    ) -> Result<Reservation, StoreError> {
        let now = Utc::now();
        // Expired keys and abandoned reservations free the key.
        diesel::delete(idempotency_keys::table)
            .filter(idempotency_keys::organization_id.eq(organization_id))
            .filter(idempotency_keys::key.eq(key))
            .filter(
                idempotency_keys::created_at
                    .lt(now - IDEMPOTENCY_WINDOW)
                    .or(idempotency_keys::response_status
                        .is_null()
                        .and(idempotency_keys::created_at.lt(now - ABANDONED_AFTER))),
            )
            .execute(conn)
            .await?;
        let inserted = diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::organization_id.eq(organization_id),
                idempotency_keys::key.eq(key),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 1 {
            return Ok(Reservation::Reserved);
        }
        let existing = idempotency_keys::table
            .find((organization_id, key))
            .select(IdempotencyKey::as_select())
            .first(conn)
            .await
            .optional()?;
        Ok(match existing {
            Some(record) if record.response_status.is_some() => Reservation::Completed(record),
            _ => Reservation::InProgress,
        })
    }

    /// Stores the response of the request that reserved the key.
    pub async fn complete(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        key: &str,
        request_hash: &[u8],
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError> {
        diesel::update(idempotency_keys::table.find((organization_id, key)))
            .set((
                idempotency_keys::request_hash.eq(request_hash),
                idempotency_keys::response_status.eq(i32::from(status)),
                idempotency_keys::response_body.eq(body),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Frees a reservation whose request failed, so that the key can be used again.
    pub async fn release(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        key: &str,
    ) -> Result<(), StoreError> {
        diesel::delete(idempotency_keys::table.find((organization_id, key)))
            .filter(idempotency_keys::response_status.is_null())
            .execute(conn)
            .await?;
        Ok(())
    }
}
