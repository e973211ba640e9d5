//! Reconciliation tokens: read-only credentials of one matching config that ride in the URL of
//! its W3C Reconciliation service, since OpenRefine sends no `Authorization` header. Only the
//! token's SHA-256 hash and a short prefix are stored; a revoked token is never found again.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{MatchingConfigId, OrganizationId, ReconciliationTokenId};
use crate::schema::reconciliation_tokens;
use crate::StoreError;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reconciliation_tokens, check_for_backend(diesel::pg::Pg))]
pub struct ReconciliationToken {
    pub id: ReconciliationTokenId,
    pub organization_id: OrganizationId,
    pub config_id: MatchingConfigId,
    pub name: String,
    pub token_prefix: String,
    pub token_hash: Vec<u8>,
    /// The config field (a mapping's `source`) that a query's text fills.
    pub query_field: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = reconciliation_tokens)]
pub struct NewReconciliationToken<'a> {
    pub id: ReconciliationTokenId,
    pub organization_id: OrganizationId,
    pub config_id: MatchingConfigId,
    pub name: &'a str,
    pub token_prefix: &'a str,
    pub token_hash: &'a [u8],
    pub query_field: &'a str,
}

impl ReconciliationToken {
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewReconciliationToken<'_>,
    ) -> Result<ReconciliationToken, StoreError> {
        Ok(diesel::insert_into(reconciliation_tokens::table)
            .values(new)
            .returning(ReconciliationToken::as_returning())
            .get_result(conn)
            .await?)
    }

    /// The token with that hash, unless it was revoked.
    pub async fn find_active_by_hash(
        conn: &mut AsyncPgConnection,
        token_hash: &[u8],
    ) -> Result<Option<ReconciliationToken>, StoreError> {
        Ok(reconciliation_tokens::table
            .filter(reconciliation_tokens::token_hash.eq(token_hash))
            .filter(reconciliation_tokens::revoked_at.is_null())
            .select(ReconciliationToken::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// The config's tokens (revoked ones included) in id order, after the cursor.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        config_id: MatchingConfigId,
        after: Option<ReconciliationTokenId>,
        limit: i64,
    ) -> Result<Vec<ReconciliationToken>, StoreError> {
        let mut query = reconciliation_tokens::table
            .filter(reconciliation_tokens::organization_id.eq(organization_id))
            .filter(reconciliation_tokens::config_id.eq(config_id))
            .select(ReconciliationToken::as_select())
            .order(reconciliation_tokens::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(reconciliation_tokens::id.gt(after));
        }
        Ok(query.load(conn).await?)
    }

    /// Revokes a token of the config; false when it has no such active token.
    pub async fn revoke(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        config_id: MatchingConfigId,
        id: ReconciliationTokenId,
    ) -> Result<bool, StoreError> {
        let updated = diesel::update(reconciliation_tokens::table)
            .filter(reconciliation_tokens::id.eq(id))
            .filter(reconciliation_tokens::organization_id.eq(organization_id))
            .filter(reconciliation_tokens::config_id.eq(config_id))
            .filter(reconciliation_tokens::revoked_at.is_null())
            .set(reconciliation_tokens::revoked_at.eq(diesel::dsl::now))
            .execute(conn)
            .await?;
        Ok(updated == 1)
    }
}
