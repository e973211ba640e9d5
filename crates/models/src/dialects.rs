use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use concord_scoring::dialect::DialectSettings;

use crate::ids::{DialectId, OrganizationId};
use crate::json::Json;
use crate::schema::{dialect_versions, dialects};
use crate::StoreError;

/// A versioned output format (date format, number locale, delimiter, null text, encoding,
/// boolean pair) that resolved values are rendered and exported in. `settings` are kept as the
/// scoring core validated them; every update makes a new version.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dialects, check_for_backend(diesel::pg::Pg))]
pub struct Dialect {
    pub id: DialectId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub version: i32,
    pub settings: Json<DialectSettings>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = dialects)]
pub struct NewDialect {
    pub id: DialectId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub settings: Json<DialectSettings>,
}

/// One version of a dialect.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dialect_versions, check_for_backend(diesel::pg::Pg))]
pub struct DialectVersion {
    pub dialect_id: DialectId,
    pub version: i32,
    pub name: String,
    pub settings: Json<DialectSettings>,
    pub created_at: DateTime<Utc>,
}

impl Dialect {
    /// Stores a new dialect as version 1 (in the caller's transaction).
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewDialect,
    ) -> Result<Dialect, StoreError> {
        let dialect = diesel::insert_into(dialects::table)
            .values(new)
            .returning(Dialect::as_returning())
            .get_result(conn)
            .await?;
        insert_version(conn, &dialect).await?;
        Ok(dialect)
    }

    /// Saves a new version with this name and these settings; `None` if the dialect is not the
    /// organisation's.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: DialectId,
        name: String,
        settings: DialectSettings,
    ) -> Result<Option<Dialect>, StoreError> {
        let updated = diesel::update(
            dialects::table
                .find(id)
                .filter(dialects::organization_id.eq(organization_id)),
        )
        .set((
            dialects::name.eq(name),
            dialects::settings.eq(Json(settings)),
            dialects::version.eq(dialects::version + 1),
            dialects::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Dialect::as_returning())
        .get_result(conn)
        .await
        .optional()?;
        if let Some(dialect) = &updated {
            insert_version(conn, dialect).await?;
        }
        Ok(updated)
    }

    /// The organisation's dialect (`None` for another organisation's).
    pub async fn find(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: DialectId,
    ) -> Result<Option<Dialect>, StoreError> {
        Ok(dialects::table
            .find(id)
            .filter(dialects::organization_id.eq(organization_id))
            .select(Dialect::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    pub async fn find_version(
        conn: &mut AsyncPgConnection,
        id: DialectId,
        version: i32,
    ) -> Result<Option<DialectVersion>, StoreError> {
        Ok(dialect_versions::table
            .find((id, version))
            .select(DialectVersion::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// Newest first, before the given id.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        before: Option<DialectId>,
        limit: i64,
    ) -> Result<Vec<Dialect>, StoreError> {
        let mut query = dialects::table
            .filter(dialects::organization_id.eq(organization_id))
            .order(dialects::id.desc())
            .limit(limit)
            .select(Dialect::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(dialects::id.lt(before));
        }
        Ok(query.load(conn).await?)
    }

    /// Whether a dialect was deleted. Runs keep their snapshot of it.
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: DialectId,
    ) -> Result<bool, StoreError> {
        let deleted = diesel::delete(
            dialects::table
                .find(id)
                .filter(dialects::organization_id.eq(organization_id)),
        )
        .execute(conn)
        .await?;
        Ok(deleted > 0)
    }
}

async fn insert_version(conn: &mut AsyncPgConnection, dialect: &Dialect) -> Result<(), StoreError> {
    diesel::insert_into(dialect_versions::table)
        .values((
            dialect_versions::dialect_id.eq(dialect.id),
            dialect_versions::version.eq(dialect.version),
            dialect_versions::name.eq(&dialect.name),
            dialect_versions::settings.eq(&dialect.settings),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
