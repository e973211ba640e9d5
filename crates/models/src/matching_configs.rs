use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{MatchingConfigId, OrganizationId, ReferenceDatasetId};
use crate::schema::matching_configs;
use crate::text_enum::text_enum;
use crate::{Json, StoreError};
pub use concord_scoring::matcher::FieldMapping;

text_enum! {
    /// How a config's candidates get their confidence: the learned Fellegi–Sunter model, or the
    /// weighted mean of field scores (configs made before the model, and a baseline).
    pub enum Scoring {
        Probabilistic => "probabilistic",
        Weighted => "weighted",
    }
}

text_enum! {
    /// Whether a reference row may be the match of several documents of a run.
    pub enum Assignment {
        Independent => "independent",
        OneToOne => "one_to_one",
    }
}

impl From<Scoring> for concord_scoring::matcher::ScoringMode {
    fn from(scoring: Scoring) -> Self {
        match scoring {
            Scoring::Probabilistic => concord_scoring::matcher::ScoringMode::Probabilistic,
            Scoring::Weighted => concord_scoring::matcher::ScoringMode::Weighted,
        }
    }
}

impl From<Assignment> for concord_scoring::matcher::Assignment {
    fn from(assignment: Assignment) -> Self {
        match assignment {
            Assignment::Independent => concord_scoring::matcher::Assignment::Independent,
            Assignment::OneToOne => concord_scoring::matcher::Assignment::OneToOne,
        }
    }
}

/// How the documents of a job run map onto a reference dataset: field mappings (`{source, target,
/// strategy, params, weight}`, kept as the user sent them), the threshold, the floor of the
/// review band, the ambiguity margin, the scoring and the assignment. The dataset is fixed once
/// the config exists.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = matching_configs, check_for_backend(diesel::pg::Pg))]
pub struct MatchingConfig {
    pub id: MatchingConfigId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub reference_data_id: ReferenceDatasetId,
    /// As the user sent them (`[{source, target, strategy, params, weight}]`), validated.
    pub field_mappings: Json<Vec<FieldMapping>>,
    pub threshold: f64,
    pub review_floor: f64,
    pub ambiguity_margin: f64,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub scoring: Scoring,
    pub assignment: Assignment,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = matching_configs)]
pub struct NewMatchingConfig {
    pub id: MatchingConfigId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub reference_data_id: ReferenceDatasetId,
    /// As the user sent them (`[{source, target, strategy, params, weight}]`), validated.
    pub field_mappings: Json<Vec<FieldMapping>>,
    pub threshold: f64,
    pub review_floor: f64,
    pub ambiguity_margin: f64,
    pub scoring: Scoring,
    pub assignment: Assignment,
}

/// A full replacement of what may change (`PUT`): everything but the dataset.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = matching_configs)]
pub struct MatchingConfigUpdate {
    pub name: String,
    /// As the user sent them (`[{source, target, strategy, params, weight}]`), validated.
    pub field_mappings: Json<Vec<FieldMapping>>,
    pub threshold: f64,
    pub review_floor: f64,
    pub ambiguity_margin: f64,
    pub scoring: Scoring,
    pub assignment: Assignment,
}

impl MatchingConfig {
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewMatchingConfig,
    ) -> Result<MatchingConfig, StoreError> {
        Ok(diesel::insert_into(matching_configs::table)
            .values(new)
            .returning(MatchingConfig::as_returning())
            .get_result(conn)
            .await?)
    }

    /// The organisation's config (`None` for another organisation's).
    pub async fn find(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: MatchingConfigId,
    ) -> Result<Option<MatchingConfig>, StoreError> {
        Ok(matching_configs::table
            .find(id)
            .filter(matching_configs::organization_id.eq(organization_id))
            .select(MatchingConfig::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// Newest first, before the given id.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        before: Option<MatchingConfigId>,
        limit: i64,
    ) -> Result<Vec<MatchingConfig>, StoreError> {
        let mut query = matching_configs::table
            .filter(matching_configs::organization_id.eq(organization_id))
            .order(matching_configs::id.desc())
            .limit(limit)
            .select(MatchingConfig::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(matching_configs::id.lt(before));
        }
        Ok(query.load(conn).await?)
    }

    /// Replaces the config and bumps its version; `None` if it is not the organisation's.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: MatchingConfigId,
        update: MatchingConfigUpdate,
    ) -> Result<Option<MatchingConfig>, StoreError> {
        Ok(diesel::update(
            matching_configs::table
                .find(id)
                .filter(matching_configs::organization_id.eq(organization_id)),
        )
        .set((
            update,
            matching_configs::version.eq(matching_configs::version + 1),
            matching_configs::updated_at.eq(diesel::dsl::now),
        ))
        .returning(MatchingConfig::as_returning())
        .get_result(conn)
        .await
        .optional()?)
    }

    /// Whether a config was deleted. Its runs stay, with their snapshot of it.
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: MatchingConfigId,
    ) -> Result<bool, StoreError> {
        let deleted = diesel::delete(
            matching_configs::table
                .find(id)
                .filter(matching_configs::organization_id.eq(organization_id)),
        )
        .execute(conn)
        .await?;
        Ok(deleted > 0)
    }
}
