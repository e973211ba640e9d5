use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{ApiKeyId, OrganizationId};
use crate::schema::api_keys;
use crate::StoreError;

/// A stored API key: only its SHA-256 hash and a short prefix (for recognising it) are kept.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub key_prefix: String,
    pub key_hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    pub id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub name: &'a str,
    pub key_prefix: &'a str,
    pub key_hash: &'a [u8],
    pub scopes: Vec<String>,
}

impl ApiKey {
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewApiKey<'_>,
    ) -> Result<ApiKey, StoreError> {
        Ok(diesel::insert_into(api_keys::table)
            .values(new)
            .returning(ApiKey::as_returning())
            .get_result(conn)
            .await?)
    }

    /// The key with that hash, unless it was revoked.
    pub async fn find_active_by_hash(
        conn: &mut AsyncPgConnection,
        key_hash: &[u8],
    ) -> Result<Option<ApiKey>, StoreError> {
        Ok(api_keys::table
            .filter(api_keys::key_hash.eq(key_hash))
            .filter(api_keys::revoked_at.is_null())
            .select(ApiKey::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// The organisation's keys in id order, after the cursor.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        after: Option<ApiKeyId>,
        limit: i64,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let mut query = api_keys::table
            .filter(api_keys::organization_id.eq(organization_id))
            .select(ApiKey::as_select())
            .order(api_keys::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(api_keys::id.gt(after));
        }
        Ok(query.load(conn).await?)
    }

    /// Revokes a key of the organisation; false when there is no such active key.
    pub async fn revoke(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: ApiKeyId,
    ) -> Result<bool, StoreError> {
        let updated = diesel::update(api_keys::table)
            .filter(api_keys::id.eq(id))
            .filter(api_keys::organization_id.eq(organization_id))
            .filter(api_keys::revoked_at.is_null())
            .set(api_keys::revoked_at.eq(diesel::dsl::now))
            .execute(conn)
            .await?;
        Ok(updated == 1)
    }
}
