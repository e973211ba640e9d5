//! The trained model of a matching config: `GET /v1/matching/configs/{id}/model` shows it (m, u
//! and weight per field and level, λ, sample sizes, convergence, labels used), `POST
//! /v1/matching/configs/{id}/train` trains it again — on a job run's documents and on every
//! reviewer's decision on the config's results — in the matching workers. A config's first
//! probabilistic run trains it by itself.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use concord_messages::{jobs, MatchingJob};
use concord_models::database::connection;
use concord_models::ids::{JobRunId, MatchingConfigId, MatchingRunId};
use concord_models::matching_configs::{MatchingConfig, Scoring};
use concord_models::matching_models::{MatchingModel, MatchingModelStatus, TrainingRequest};
use concord_models::matching_runs::{MatchingRun, MatchingRunStatus};
use concord_models::outbox::OutboxMessage;
use concord_scoring::matcher::MatchModel;
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};

use crate::auth::{Authenticated, Authorized, Read, Write};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{parse_json, path_id, RequestedVersion};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/matching/configs/{id}/model", web::get().to(get_model))
        .route("/matching/configs/{id}/train", web::post().to(train));
}

/// What `/model` answers.
/// A config version's model: requested, then trained by a matching worker.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MatchingModelView {
    pub id: String,
    pub config_id: String,
    pub config_version: i32,
    /// `training`, `ready` or `failed`.
    #[schema(value_type = crate::openapi::schemas::MatchingModelStatusSchema)]
    pub status: MatchingModelStatus,
    /// The job run whose documents it learns (or learnt) from.
    pub job_id: String,
    pub requested_at: DateTime<Utc>,
    pub trained_at: Option<DateTime<Utc>>,
    /// Why the last training failed.
    pub error: Option<String>,
    /// How many reviewers' decisions it learnt from.
    pub labels_used: Option<usize>,
    /// The model: per field and level m, u, u among candidates and the weights in bits; λ;
    /// the training report (sample sizes, iterations, last change, converged). Null until the
    /// first training ends.
    #[schema(value_type = Option<Object>)]
    pub model: Option<MatchModel>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub links: serde_json::Value,
}

impl From<MatchingModel> for MatchingModelView {
    fn from(row: MatchingModel) -> Self {
        let model = row.model.map(|m| m.0);
        let config_id = row.config_id.to_string();
        Self {
            links: serde_json::json!({
                "self": format!("/v1/matching/configs/{config_id}/model"),
                "train": format!("/v1/matching/configs/{config_id}/train"),
                "config": format!("/v1/matching/configs/{config_id}"),
                "job": format!("/v1/jobs/{}", row.job_run_id),
            }),
            id: row.id.to_string(),
            config_id,
            config_version: row.config_version,
            status: row.status,
            job_id: row.job_run_id.to_string(),
            requested_at: row.requested_at,
            trained_at: row.trained_at,
            error: row.error,
            labels_used: model
                .as_ref()
                .map(|m| m.training.labelled_matches + m.training.labelled_non_matches),
            model,
        }
    }
}

async fn find_config(
    conn: &mut diesel_async::AsyncPgConnection,
    auth: &Authenticated,
    raw: &str,
) -> Result<MatchingConfig, ApiError> {
    MatchingConfig::find(
        conn,
        auth.organization_id,
        path_id::<MatchingConfigId>(raw)?,
    )
    .await?
    .ok_or_else(|| ApiError::not_found("matching config", raw))
}

/// `GET /v1/matching/configs/{id}/model?version=N`: the model of the config's current version
/// (or of version N). 404 `model_not_trained` while there is none.
#[utoipa::path(
    get,
    path = "/v1/matching/configs/{id}/model",
    tag = "matching",
    operation_id = "get_model",
    summary = "A config version's model",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The config's id."), crate::openapi::VersionQuery),
    responses(
        (status = 200, description = "The model (`status: training` until a worker has learnt it).", body = MatchingModelView),
        (status = 404, description = "`not_found`: no such config; `model_not_trained`: the version has no model yet (its first run trains one, or `POST …/train`).", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn get_model(
    auth: Authorized<Read>,
    path: web::Path<String>,
    version: RequestedVersion,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = connection(&state.pool).await?;
    let config = find_config(&mut conn, &auth, &path).await?;
    let version = version.0.unwrap_or(config.version);
    let model = MatchingModel::find_for(&mut conn, config.id, version)
        .await?
        .ok_or_else(|| ApiError::NotYet {
            code: ErrorCode::ModelNotTrained,
            message: format!(
                "version {version} of matching config `{}` has no model yet: its first run trains one, or POST /v1/matching/configs/{}/train",
                config.id, config.id
            ),
        })?;
    Ok(HttpResponse::Ok().json(MatchingModelView::from(model)))
}

/// What to train on (an empty body: the job run of the config's latest completed run).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TrainRequest)]
struct TrainBody {
    /// The job run whose documents to learn from; by default that of the config's latest
    /// completed run.
    #[serde(default)]
    job_id: Option<uuid::Uuid>,
}

/// `POST /v1/matching/configs/{id}/train` `{job_id?}`: trains the model of the config's current
/// version again, in the matching workers: 202 with the model (`training`; its last model stays
/// readable until the new one is stored). 409 `weighted_scoring` for a weighted config; 422 when
/// there is no job run to learn from.
#[utoipa::path(
    post,
    path = "/v1/matching/configs/{id}/train",
    tag = "matching",
    operation_id = "train_model",
    summary = "Train the config's model on a job run",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The config's id.")),
    request_body(content = TrainBody, description = "The job run to learn from; an empty body: that of the config's latest completed run."),
    responses(
        (status = 202, description = "Training requested: `status: training`, then `ready`.", body = MatchingModelView, headers(("Location" = String))),
        (status = 409, description = "`weighted_scoring`: the config scores `weighted` and learns nothing; `job_not_completed`: the job run is still ingesting.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn train(
    auth: Authorized<Write>,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: TrainBody = if body.iter().all(u8::is_ascii_whitespace) {
        TrainBody::default()
    } else {
        parse_json(&body)?
    };
    let organization_id = auth.organization_id;
    let mut conn = connection(&state.pool).await?;
    let config = find_config(&mut conn, &auth, &path).await?;
    if config.scoring != Scoring::Probabilistic {
        return Err(ApiError::Conflict {
            code: ErrorCode::WeightedScoring,
            message: format!(
                "matching config `{}` scores with the weighted mean, which learns nothing; PUT it with \"scoring\": \"probabilistic\" first",
                config.id
            ),
        });
    }
    let job_id = match body.job_id {
        Some(id) => JobRunId::from(id),
        None => latest_completed_job(&mut conn, &auth, config.id).await?,
    };
    crate::jobs::completed_job_run(&mut conn, organization_id, job_id, "job_id", "trained on")
        .await?;
    let model = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            request_training(conn, &config, job_id, None).await
        })
        .await?;
    state.outbox_waker.notify_one();
    Ok(HttpResponse::Accepted()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/matching/configs/{}/model", model.config_id),
        ))
        .json(MatchingModelView::from(model)))
}

/// The job run of the config's most recent completed run.
async fn latest_completed_job(
    conn: &mut diesel_async::AsyncPgConnection,
    auth: &Authenticated,
    config_id: MatchingConfigId,
) -> Result<JobRunId, ApiError> {
    let mut before = None;
    loop {
        let runs =
            MatchingRun::list(conn, auth.organization_id, Some(config_id), before, 100).await?;
        if let Some(run) = runs
            .iter()
            .find(|run| run.status == MatchingRunStatus::Completed)
        {
            return Ok(run.job_run_id);
        }
        match runs.last() {
            Some(last) if runs.len() == 100 => before = Some(last.id),
            _ => {
                return Err(ApiError::validation(
                    "job_id",
                    "the config has no completed run whose documents it could learn from; name a job run",
                ))
            }
        }
    }
}

/// Asks the matching workers to train the model of `config` as it is now on the job run
/// `job_id` (for the run `run_id`, when a config's first probabilistic run needs it), in the
/// caller's transaction: the model row (`training`) and the job.
pub(super) async fn request_training(
    conn: &mut diesel_async::AsyncPgConnection,
    config: &MatchingConfig,
    job_id: JobRunId,
    run_id: Option<MatchingRunId>,
) -> Result<MatchingModel, ApiError> {
    let model = MatchingModel::request_training(
        conn,
        TrainingRequest {
            organization_id: config.organization_id,
            config_id: config.id,
            config_version: config.version,
            job_run_id: job_id,
        },
    )
    .await?;
    let job = MatchingJob {
        run_id: run_id.map(|id| id.as_uuid()),
        organization_id: config.organization_id.as_uuid(),
        chunk: None,
        model_id: Some(model.id.as_uuid()),
    };
    OutboxMessage::enqueue(conn, concord_service::outbox::job(jobs::MATCHING, &job)?).await?;
    Ok(model)
}
