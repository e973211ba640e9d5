use chrono::{DateTime, Utc};
use concord_scoring::matcher::MatchModel;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{JobRunId, MatchingConfigId, MatchingModelId, OrganizationId};
use crate::json::Json;
use crate::schema::matching_models;
use crate::text_enum::text_enum;
use crate::StoreError;

text_enum! {
    /// training → ready | failed (a re-training goes back to training).
    pub enum MatchingModelStatus {
        Training => "training",
        Ready => "ready",
        Failed => "failed",
    }
}

/// The trained probabilistic model of one version of a matching config: what it learned from
/// the documents of a job run (and reviewers' labels), reused by every later run of that
/// version until it is trained again.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = matching_models, check_for_backend(diesel::pg::Pg))]
pub struct MatchingModel {
    pub id: MatchingModelId,
    pub organization_id: OrganizationId,
    pub config_id: MatchingConfigId,
    pub config_version: i32,
    pub status: MatchingModelStatus,
    /// The job run whose documents it learns from.
    pub job_run_id: JobRunId,
    pub model: Option<Json<MatchModel>>,
    pub error: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub trained_at: Option<DateTime<Utc>>,
}

/// A request to train (or train again) the model of a config version.
#[derive(Debug, Clone)]
pub struct TrainingRequest {
    pub organization_id: OrganizationId,
    pub config_id: MatchingConfigId,
    pub config_version: i32,
    pub job_run_id: JobRunId,
}

impl MatchingModel {
    /// The model of a config version, whatever its status.
    pub async fn find_for(
        conn: &mut AsyncPgConnection,
        config_id: MatchingConfigId,
        config_version: i32,
    ) -> Result<Option<MatchingModel>, StoreError> {
        Ok(matching_models::table
            .filter(matching_models::config_id.eq(config_id))
            .filter(matching_models::config_version.eq(config_version))
            .select(MatchingModel::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    pub async fn find_by_id(
        conn: &mut AsyncPgConnection,
        id: MatchingModelId,
    ) -> Result<Option<MatchingModel>, StoreError> {
        Ok(matching_models::table
            .find(id)
            .select(MatchingModel::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// Marks the config version's model as training on `job_run_id` (creating its row, or
    /// resetting the existing one: its last model stays readable until the new one is stored).
    pub async fn request_training(
        conn: &mut AsyncPgConnection,
        request: TrainingRequest,
    ) -> Result<MatchingModel, StoreError> {
        Ok(diesel::insert_into(matching_models::table)
            .values((
                matching_models::id.eq(MatchingModelId::generate()),
                matching_models::organization_id.eq(request.organization_id),
                matching_models::config_id.eq(request.config_id),
                matching_models::config_version.eq(request.config_version),
                matching_models::status.eq(MatchingModelStatus::Training),
                matching_models::job_run_id.eq(request.job_run_id),
            ))
            .on_conflict((matching_models::config_id, matching_models::config_version))
            .do_update()
            .set((
                matching_models::status.eq(MatchingModelStatus::Training),
                matching_models::job_run_id.eq(request.job_run_id),
                matching_models::error.eq(None::<String>),
                matching_models::requested_at.eq(diesel::dsl::now),
            ))
            .returning(MatchingModel::as_returning())
            .get_result(conn)
            .await?)
    }

    /// Stores a trained model: the row becomes `ready`.
    pub async fn store(
        conn: &mut AsyncPgConnection,
        id: MatchingModelId,
        model: &MatchModel,
    ) -> Result<(), StoreError> {
        diesel::update(matching_models::table.find(id))
            .set((
                matching_models::status.eq(MatchingModelStatus::Ready),
                matching_models::model.eq(Some(Json(model.clone()))),
                matching_models::error.eq(None::<String>),
                matching_models::trained_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Records why training failed (the last stored model, if any, stays).
    pub async fn fail(
        conn: &mut AsyncPgConnection,
        id: MatchingModelId,
        error: &str,
    ) -> Result<(), StoreError> {
        diesel::update(matching_models::table.find(id))
            .set((
                matching_models::status.eq(MatchingModelStatus::Failed),
                matching_models::error.eq(error),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }
}
