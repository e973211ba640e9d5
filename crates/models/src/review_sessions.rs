//! Review sessions: a reviewer's sign-in to the review UI, made from an API key. The cookie's
//! secret is stored as its SHA-256 hash only; a session acts with its key's organisation and
//! scopes, and ends when it expires, when the reviewer signs out, or when the key is revoked.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::api_keys::ApiKey;
use crate::ids::{ApiKeyId, ReviewSessionId};
use crate::match_results::ReviewState;
use crate::schema::{api_keys, review_sessions};
use crate::{Json, StoreError};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = review_sessions, check_for_backend(diesel::pg::Pg))]
pub struct ReviewSession {
    pub id: ReviewSessionId,
    pub session_hash: Vec<u8>,
    pub api_key_id: ApiKeyId,
    /// What every form of the session carries.
    pub csrf_token: String,
    /// What undoing the session's last decision restores.
    pub last_decision: Option<Json<ReviewState>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = review_sessions)]
pub struct NewReviewSession<'a> {
    pub id: ReviewSessionId,
    pub session_hash: &'a [u8],
    pub api_key_id: ApiKeyId,
    pub csrf_token: &'a str,
    pub expires_at: DateTime<Utc>,
}

impl ReviewSession {
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewReviewSession<'_>,
    ) -> Result<ReviewSession, StoreError> {
        Ok(diesel::insert_into(review_sessions::table)
            .values(new)
            .returning(ReviewSession::as_returning())
            .get_result(conn)
            .await?)
    }

    /// The session with that hash and its key, unless the session expired or the key was
    /// revoked.
    pub async fn find_active(
        conn: &mut AsyncPgConnection,
        session_hash: &[u8],
    ) -> Result<Option<(ReviewSession, ApiKey)>, StoreError> {
        Ok(review_sessions::table
            .inner_join(api_keys::table)
            .filter(review_sessions::session_hash.eq(session_hash))
            .filter(review_sessions::expires_at.gt(diesel::dsl::now))
            .filter(api_keys::revoked_at.is_null())
            .select((ReviewSession::as_select(), ApiKey::as_select()))
            .first(conn)
            .await
            .optional()?)
    }

    /// Remembers (or, with `None`, forgets) what undoing the last decision restores.
    pub async fn set_last_decision(
        conn: &mut AsyncPgConnection,
        id: ReviewSessionId,
        last: Option<ReviewState>,
    ) -> Result<(), StoreError> {
        diesel::update(review_sessions::table.find(id))
            .set(review_sessions::last_decision.eq(last.map(Json)))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Signs the session out.
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        id: ReviewSessionId,
    ) -> Result<(), StoreError> {
        diesel::delete(review_sessions::table.find(id))
            .execute(conn)
            .await?;
        Ok(())
    }
}
