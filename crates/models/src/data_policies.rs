use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use concord_scoring::policy::{FieldSpec, RuleSpec};

use crate::ids::{DataPolicyId, OrganizationId};
use crate::json::Json;
use crate::schema::{data_policies, data_policy_versions};
use crate::StoreError;

/// How each output field of a document is derived from its raw values: `fields` (the output
/// contract) and `rules`, kept as the user sent them once the scoring core has compiled them.
/// Saving new fields and rules makes a new version; every version stays readable.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = data_policies, check_for_backend(diesel::pg::Pg))]
pub struct DataPolicy {
    pub id: DataPolicyId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub description: Option<String>,
    pub version: i32,
    pub fields: Json<Vec<FieldSpec>>,
    pub rules: Json<Vec<RuleSpec>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = data_policies)]
pub struct NewDataPolicy {
    pub id: DataPolicyId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub description: Option<String>,
    pub fields: Json<Vec<FieldSpec>>,
    pub rules: Json<Vec<RuleSpec>>,
}

/// One version of a policy's fields and rules.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = data_policy_versions, check_for_backend(diesel::pg::Pg))]
pub struct DataPolicyVersion {
    pub policy_id: DataPolicyId,
    pub version: i32,
    pub fields: Json<Vec<FieldSpec>>,
    pub rules: Json<Vec<RuleSpec>>,
    pub created_at: DateTime<Utc>,
}

/// A new version: fields and rules, and the name and description when given.
#[derive(Debug, Clone)]
pub struct DataPolicyUpdate {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub fields: Json<Vec<FieldSpec>>,
    pub rules: Json<Vec<RuleSpec>>,
}

impl DataPolicy {
    /// Stores a new policy as version 1 (in the caller's transaction).
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewDataPolicy,
    ) -> Result<DataPolicy, StoreError> {
        let policy = diesel::insert_into(data_policies::table)
            .values(new)
            .returning(DataPolicy::as_returning())
            .get_result(conn)
            .await?;
        insert_version(conn, &policy).await?;
        Ok(policy)
    }

    /// Saves a new version; `None` if the policy is not the organisation's.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: DataPolicyId,
        update: DataPolicyUpdate,
    ) -> Result<Option<DataPolicy>, StoreError> {
        let Some(current) = Self::find(conn, organization_id, id).await? else {
            return Ok(None);
        };
        let policy = diesel::update(data_policies::table.find(id))
            .set((
                data_policies::name.eq(update.name.unwrap_or(current.name)),
                data_policies::description.eq(update.description.unwrap_or(current.description)),
                data_policies::fields.eq(update.fields),
                data_policies::rules.eq(update.rules),
                data_policies::version.eq(data_policies::version + 1),
                data_policies::updated_at.eq(diesel::dsl::now),
            ))
            .returning(DataPolicy::as_returning())
            .get_result(conn)
            .await?;
        insert_version(conn, &policy).await?;
        Ok(Some(policy))
    }

    /// The organisation's policy (`None` for another organisation's).
    pub async fn find(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: DataPolicyId,
    ) -> Result<Option<DataPolicy>, StoreError> {
        Ok(data_policies::table
            .find(id)
            .filter(data_policies::organization_id.eq(organization_id))
            .select(DataPolicy::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    pub async fn find_version(
        conn: &mut AsyncPgConnection,
        id: DataPolicyId,
        version: i32,
    ) -> Result<Option<DataPolicyVersion>, StoreError> {
        Ok(data_policy_versions::table
            .find((id, version))
            .select(DataPolicyVersion::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// Newest first, before the given id.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        before: Option<DataPolicyId>,
        limit: i64,
    ) -> Result<Vec<DataPolicy>, StoreError> {
        let mut query = data_policies::table
            .filter(data_policies::organization_id.eq(organization_id))
            .order(data_policies::id.desc())
            .limit(limit)
            .select(DataPolicy::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(data_policies::id.lt(before));
        }
        Ok(query.load(conn).await?)
    }

    /// Whether a policy was deleted. Its runs keep their snapshot of it.
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: DataPolicyId,
    ) -> Result<bool, StoreError> {
        let deleted = diesel::delete(
            data_policies::table
                .find(id)
                .filter(data_policies::organization_id.eq(organization_id)),
        )
        .execute(conn)
        .await?;
        Ok(deleted > 0)
    }
}

async fn insert_version(
    conn: &mut AsyncPgConnection,
    policy: &DataPolicy,
) -> Result<(), StoreError> {
    diesel::insert_into(data_policy_versions::table)
        .values((
            data_policy_versions::policy_id.eq(policy.id),
            data_policy_versions::version.eq(policy.version),
            data_policy_versions::fields.eq(&policy.fields),
            data_policy_versions::rules.eq(&policy.rules),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
