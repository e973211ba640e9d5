//! A matching run's lifecycle as the API drives it — create (with its snapshot, its model or its
//! training, and its chunks), cancel, send to the AI pass — each in the caller's transaction:
//! the handlers parse, open the transaction, wake the outbox relay after the commit and render.

use std::collections::HashSet;

use concord_messages::EventType;
use concord_models::ids::{
    JobRunId, MatchResultId, MatchingConfigId, MatchingRunId, OrganizationId,
};
use concord_models::matching_configs::{MatchingConfig, Scoring};
use concord_models::matching_models::{MatchingModel, MatchingModelStatus};
use concord_models::matching_runs::{
    CancelOutcome, ConfigSnapshot, MatchingMode, MatchingRun, MatchingRunStatus, NewMatchingRun,
};
use concord_models::outbox::OutboxMessage;
use concord_models::reference_datasets::ReferenceDataset;
use concord_service::outbox::matching_run_event;
use diesel_async::AsyncPgConnection;

use crate::error::{ApiError, ErrorCode};

/// What a new run is asked for.
#[derive(Debug, Clone, Copy)]
pub struct NewRun {
    pub organization_id: OrganizationId,
    pub config_id: MatchingConfigId,
    pub job_id: JobRunId,
    pub mode: MatchingMode,
    pub candidates: i32,
    pub chunk_size: i32,
}

/// Creates a `queued` run over the completed job run with a snapshot of its config, and either
/// one job per chunk or (for a probabilistic config without a trained model) a training first.
/// A run over no documents completes at once.
pub async fn create(
    conn: &mut AsyncPgConnection,
    request: NewRun,
) -> Result<MatchingRun, ApiError> {
    let NewRun {
        organization_id,
        config_id,
        job_id,
        mode,
        candidates,
        chunk_size,
    } = request;
    let config = MatchingConfig::find(conn, organization_id, config_id)
        .await?
        .ok_or_else(|| ApiError::not_found("matching config", config_id.to_string()))?;
    let job =
        crate::jobs::completed_job_run(conn, organization_id, job_id, "job_id", "matched").await?;
    if ReferenceDataset::find(conn, organization_id, config.reference_data_id)
        .await?
        .is_none()
    {
        return Err(ApiError::Conflict {
            code: ErrorCode::ReferenceDataDeleted,
            message: format!(
                "the reference dataset `{}` of this config was deleted; create a config for another dataset",
                config.reference_data_id
            ),
        });
    }
    let snapshot = ConfigSnapshot::of(&config, chunk_size, Some(candidates));
    let total = job.document_count;
    let chunks = concord_runs::chunks::chunk_ranges(total, chunk_size);
    // A probabilistic run scores with its config version's trained model; when there is
    // none yet, the run trains it first (on its own documents).
    let (model, training) = match config.scoring {
        Scoring::Weighted => (None, false),
        Scoring::Probabilistic => {
            match MatchingModel::find_for(conn, config.id, config.version).await? {
                Some(MatchingModel {
                    status: MatchingModelStatus::Ready,
                    model: Some(model),
                    ..
                }) => (Some(model), false),
                _ => (None, !chunks.is_empty()),
            }
        }
    };
    let run_id = MatchingRunId::generate();
    let run = MatchingRun::insert(
        conn,
        NewMatchingRun {
            id: run_id,
            organization_id,
            job_run_id: job_id,
            mode,
            status: MatchingRunStatus::Queued,
            config_snapshot: concord_models::Json(snapshot),
            rows_total: total,
            config_id: Some(config.id),
            reference_data_id: Some(config.reference_data_id),
            chunks_total: i32::try_from(chunks.len()).map_err(ApiError::internal)?,
            model,
        },
    )
    .await?;
    if chunks.is_empty() {
        // Nothing to match (nor for the AI pass to look at): the run is complete as soon
        // as it exists.
        MatchingRun::start(conn, run_id).await?;
        let run = MatchingRun::complete(conn, run_id)
            .await?
            .ok_or_else(|| ApiError::not_found("matching run", run_id.to_string()))?;
        OutboxMessage::enqueue(
            conn,
            matching_run_event(EventType::MatchingRunCompleted, &run)?,
        )
        .await?;
        return Ok(run);
    }
    if training {
        super::models::request_training(conn, &config, job_id, Some(run_id)).await?;
    } else {
        concord_runs::chunks::enqueue_matching_chunks(
            conn,
            organization_id,
            run_id,
            total,
            chunk_size,
        )
        .await?;
    }
    Ok(run)
}

/// Cancels a queued, running or ai_resolving run and announces it; 409 once it has ended.
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    id: MatchingRunId,
) -> Result<MatchingRun, ApiError> {
    match MatchingRun::cancel(conn, organization_id, id).await? {
        CancelOutcome::Cancelled(run) => {
            OutboxMessage::enqueue(
                conn,
                matching_run_event(EventType::MatchingRunCancelled, &run)?,
            )
            .await?;
            Ok(run)
        }
        CancelOutcome::AlreadyEnded(run) => Err(ApiError::Conflict {
            code: ErrorCode::RunEnded,
            message: format!(
                "matching run `{}` has already ended ({}); only a queued, running or ai_resolving run can be cancelled",
                run.id, run.status
            ),
        }),
        CancelOutcome::NotFound => Err(ApiError::not_found("matching run", id.to_string())),
    }
}

/// Sends a completed run to the AI pass over `result_ids` (every undecided result in the review
/// band when `None`); 409 unless it is completed.
pub async fn send_to_ai(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    id: MatchingRunId,
    result_ids: Option<Vec<MatchResultId>>,
) -> Result<MatchingRun, ApiError> {
    let run = MatchingRun::find(conn, organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("matching run", id.to_string()))?;
    if run.status != MatchingRunStatus::Completed {
        return Err(run_not_completed(&run));
    }
    if let Some(ids) = &result_ids {
        check_results_of_run(conn, run.id, ids).await?;
    }
    let items = result_ids.as_deref().map(distinct).unwrap_or_default();
    let Some(handed) = concord_runs::ai::hand_matching_run(conn, &run, items).await? else {
        // Sent to the AI pass by a concurrent request meanwhile.
        let now = MatchingRun::find(conn, organization_id, id)
            .await?
            .unwrap_or(run);
        return Err(run_not_completed(&now));
    };
    Ok(handed)
}

fn run_not_completed(run: &MatchingRun) -> ApiError {
    ApiError::Conflict {
        code: ErrorCode::RunNotCompleted,
        message: format!(
            "matching run `{}` is {}; only a completed run can be sent to the AI pass",
            run.id, run.status
        ),
    }
}

/// The ids once each, in the order given.
fn distinct(ids: &[MatchResultId]) -> Vec<String> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter()
        .filter(|id| seen.insert(**id))
        .map(ToString::to_string)
        .collect()
}

/// 422 naming the first id (by its index in the request) that is not a result of the run.
async fn check_results_of_run(
    conn: &mut diesel_async::AsyncPgConnection,
    run_id: MatchingRunId,
    ids: &[MatchResultId],
) -> Result<(), ApiError> {
    use concord_models::schema::match_results;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let found: HashSet<MatchResultId> = match_results::table
        .filter(match_results::run_id.eq(run_id))
        .filter(match_results::id.eq_any(ids))
        .select(match_results::id)
        .load::<MatchResultId>(conn)
        .await?
        .into_iter()
        .collect();
    match ids.iter().enumerate().find(|(_, id)| !found.contains(id)) {
        None => Ok(()),
        Some((index, id)) => Err(ApiError::validation(
            format!("result_ids[{index}]"),
            format!("`{id}` is not a result of this run"),
        )),
    }
}
