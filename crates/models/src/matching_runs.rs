use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use concord_scoring::matcher::MatchModel;

use crate::ids::{JobRunId, MatchingConfigId, MatchingRunId, OrganizationId, ReferenceDatasetId};
use crate::json::Json;
use crate::matching_configs::{Assignment, Scoring};
use crate::schema::{matching_run_chunks, matching_runs};
use crate::text_enum::text_enum;
use crate::StoreError;

text_enum! {
    /// queued → running → ai_resolving → completed | failed | cancelled
    pub enum MatchingRunStatus {
        Queued => "queued",
        Running => "running",
        AiResolving => "ai_resolving",
        Completed => "completed",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

text_enum! {
    pub enum MatchingMode {
        Manual => "manual",
        Smart => "smart",
    }
}

/// A run of a matching configuration over the documents of a job run.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = matching_runs, check_for_backend(diesel::pg::Pg))]
pub struct MatchingRun {
    pub id: MatchingRunId,
    pub organization_id: OrganizationId,
    pub job_run_id: JobRunId,
    pub mode: MatchingMode,
    pub status: MatchingRunStatus,
    pub config_snapshot: Json<ConfigSnapshot>,
    pub rows_total: i32,
    pub rows_processed: i32,
    pub rows_matched: i32,
    pub avg_confidence: Option<f64>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub config_id: Option<MatchingConfigId>,
    pub reference_data_id: Option<ReferenceDatasetId>,
    pub chunks_total: i32,
    pub chunks_done: i32,
    pub confidence_sum: f64,
    /// The AI pass: documents shown to the model, choices applied, documents flagged (the
    /// model's choice not applied), model calls.
    pub ai_items: i32,
    pub ai_accepted: i32,
    pub ai_flagged: i32,
    pub ai_calls: i32,
    /// The probabilistic model the run scores with (set before its first chunk).
    pub model: Option<Json<MatchModel>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = matching_runs)]
pub struct NewMatchingRun {
    pub id: MatchingRunId,
    pub organization_id: OrganizationId,
    pub job_run_id: JobRunId,
    pub mode: MatchingMode,
    pub status: MatchingRunStatus,
    pub config_snapshot: Json<ConfigSnapshot>,
    pub rows_total: i32,
    pub config_id: Option<MatchingConfigId>,
    pub reference_data_id: Option<ReferenceDatasetId>,
    pub chunks_total: i32,
    pub model: Option<Json<MatchModel>>,
}

/// What a run keeps of its config when it is created, so that editing or deleting the config
/// later changes nothing about the run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfigSnapshot {
    pub config_id: MatchingConfigId,
    pub name: String,
    pub version: i32,
    pub reference_data_id: ReferenceDatasetId,
    /// As the user sent them (`[{source, target, strategy, params, weight}]`), validated.
    pub field_mappings: Vec<crate::matching_configs::FieldMapping>,
    pub threshold: f64,
    pub review_floor: f64,
    pub ambiguity_margin: f64,
    /// Documents per chunk.
    pub chunk_size: i32,
    /// How many of the best candidates each result keeps (default 5).
    #[serde(default)]
    pub candidates: Option<i32>,
    /// How candidates get their confidence (snapshots from before the probabilistic model are
    /// weighted).
    #[serde(default = "weighted")]
    pub scoring: Scoring,
    #[serde(default = "independent")]
    pub assignment: Assignment,
}

impl ConfigSnapshot {
    /// What a run keeps of `config` as it is now: its chunks of `chunk_size` documents, each
    /// result keeping `candidates` candidates (`None`: the core's default), scored as the config
    /// says.
    pub fn of(
        config: &crate::matching_configs::MatchingConfig,
        chunk_size: i32,
        candidates: Option<i32>,
    ) -> Self {
        Self {
            config_id: config.id,
            name: config.name.clone(),
            version: config.version,
            reference_data_id: config.reference_data_id,
            field_mappings: config.field_mappings.0.clone(),
            threshold: config.threshold,
            review_floor: config.review_floor,
            ambiguity_margin: config.ambiguity_margin,
            chunk_size,
            candidates,
            scoring: config.scoring,
            assignment: config.assignment,
        }
    }
}

fn weighted() -> Scoring {
    Scoring::Weighted
}

fn independent() -> Assignment {
    Assignment::Independent
}

/// What one chunk of a run counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkTally {
    pub chunk_index: i32,
    pub rows_processed: i32,
    pub rows_matched: i32,
    pub confidence_sum: f64,
}

/// What became of a cancel request.
#[derive(Debug)]
pub enum CancelOutcome {
    Cancelled(MatchingRun),
    /// The run had already ended (completed, failed or cancelled).
    AlreadyEnded(MatchingRun),
    NotFound,
}

impl MatchingRunStatus {
    /// Completed, failed and cancelled runs change no more.
    pub fn has_ended(self) -> bool {
        matches!(
            self,
            MatchingRunStatus::Completed | MatchingRunStatus::Failed | MatchingRunStatus::Cancelled
        )
    }
}

impl MatchingRun {
    /// The data of the `matching.run.*` events.
    pub fn event_data(&self) -> serde_json::Value {
        serde_json::json!({
            "run_id": self.id.to_string(),
            "config_id": self.config_id.map(|id| id.to_string()),
            "job_id": self.job_run_id.to_string(),
            "status": self.status,
            "rows_total": self.rows_total,
            "rows_processed": self.rows_processed,
            "rows_matched": self.rows_matched,
            "avg_confidence": self.avg_confidence,
            "error": self.error,
        })
    }

    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewMatchingRun,
    ) -> Result<MatchingRun, StoreError> {
        Ok(diesel::insert_into(matching_runs::table)
            .values(new)
            .returning(MatchingRun::as_returning())
            .get_result(conn)
            .await?)
    }

    pub async fn find_by_id(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
    ) -> Result<Option<MatchingRun>, StoreError> {
        Ok(matching_runs::table
            .find(id)
            .select(MatchingRun::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// A worker takes up a queued run: it becomes `running` with its start time. Returns the run
    /// as it now is (unchanged if it had already started or ended).
    pub async fn start(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
    ) -> Result<Option<MatchingRun>, StoreError> {
        diesel::update(matching_runs::table.find(id))
            .filter(matching_runs::status.eq(MatchingRunStatus::Queued))
            .set((
                matching_runs::status.eq(MatchingRunStatus::Running),
                matching_runs::started_at.eq(diesel::dsl::now),
                matching_runs::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        Self::find_by_id(conn, id).await
    }

    /// The organisation's run (`None` for another organisation's).
    pub async fn find(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: MatchingRunId,
    ) -> Result<Option<MatchingRun>, StoreError> {
        Ok(matching_runs::table
            .find(id)
            .filter(matching_runs::organization_id.eq(organization_id))
            .select(MatchingRun::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// The run's status and version (`updated_at`) alone: what a reader of a cached rendering
    /// needs to know that it is current, without the run's config snapshot and trained model.
    pub async fn version(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: MatchingRunId,
    ) -> Result<Option<(MatchingRunStatus, DateTime<Utc>)>, StoreError> {
        Ok(matching_runs::table
            .find(id)
            .filter(matching_runs::organization_id.eq(organization_id))
            .select((matching_runs::status, matching_runs::updated_at))
            .first(conn)
            .await
            .optional()?)
    }

    /// The organisation's runs, newest first, older than the cursor, of one config if given.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        config_id: Option<MatchingConfigId>,
        before: Option<MatchingRunId>,
        limit: i64,
    ) -> Result<Vec<MatchingRun>, StoreError> {
        let mut query = matching_runs::table
            .filter(matching_runs::organization_id.eq(organization_id))
            .order(matching_runs::id.desc())
            .limit(limit)
            .select(MatchingRun::as_select())
            .into_boxed();
        if let Some(config_id) = config_id {
            query = query.filter(matching_runs::config_id.eq(config_id));
        }
        if let Some(before) = before {
            query = query.filter(matching_runs::id.lt(before));
        }
        Ok(query.load(conn).await?)
    }

    /// Cancels a run that has not ended; its results so far stay.
    pub async fn cancel(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: MatchingRunId,
    ) -> Result<CancelOutcome, StoreError> {
        let now = chrono::Utc::now();
        let cancelled = diesel::update(
            matching_runs::table
                .find(id)
                .filter(matching_runs::organization_id.eq(organization_id))
                .filter(matching_runs::status.eq_any([
                    MatchingRunStatus::Queued,
                    MatchingRunStatus::Running,
                    MatchingRunStatus::AiResolving,
                ])),
        )
        .set((
            matching_runs::status.eq(MatchingRunStatus::Cancelled),
            matching_runs::updated_at.eq(now),
            matching_runs::completed_at.eq(now),
        ))
        .returning(MatchingRun::as_returning())
        .get_result(conn)
        .await
        .optional()?;
        Ok(match cancelled {
            Some(run) => CancelOutcome::Cancelled(run),
            None => match Self::find(conn, organization_id, id).await? {
                Some(run) => CancelOutcome::AlreadyEnded(run),
                None => CancelOutcome::NotFound,
            },
        })
    }

    /// Counts a chunk into its run, once: a chunk already counted (a redelivery) returns `None`
    /// and changes nothing. Otherwise returns the run with its counters as they now are; the
    /// run's row stays locked until the transaction ends, so chunks finishing together are
    /// counted one after the other and exactly one of them sees the last chunk done.
    pub async fn record_chunk(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
        tally: ChunkTally,
    ) -> Result<Option<MatchingRun>, StoreError> {
        let inserted = diesel::insert_into(matching_run_chunks::table)
            .values((
                matching_run_chunks::run_id.eq(id),
                matching_run_chunks::chunk_index.eq(tally.chunk_index),
                matching_run_chunks::rows_processed.eq(tally.rows_processed),
                matching_run_chunks::rows_matched.eq(tally.rows_matched),
                matching_run_chunks::confidence_sum.eq(tally.confidence_sum),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 0 {
            return Ok(None);
        }
        let processed = matching_runs::rows_processed + tally.rows_processed;
        Ok(Some(
            diesel::update(matching_runs::table.find(id))
                .set((
                    matching_runs::rows_processed.eq(processed),
                    matching_runs::rows_matched
                        .eq(matching_runs::rows_matched + tally.rows_matched),
                    matching_runs::confidence_sum
                        .eq(matching_runs::confidence_sum + tally.confidence_sum),
                    matching_runs::chunks_done.eq(matching_runs::chunks_done + 1),
                    matching_runs::updated_at.eq(chrono::Utc::now()),
                ))
                .returning(MatchingRun::as_returning())
                .get_result(conn)
                .await?,
        ))
    }

    /// Sets the model a run scores with (before its chunks are planned).
    pub async fn set_model(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
        model: &MatchModel,
    ) -> Result<(), StoreError> {
        diesel::update(matching_runs::table.find(id))
            .set((
                matching_runs::model.eq(Some(Json(model.clone()))),
                matching_runs::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Counts the run's matched results and confidences again from its results as they now are
    /// (after a step that changed them, such as the one-to-one assignment).
    pub async fn recount(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
    ) -> Result<MatchingRun, StoreError> {
        use crate::schema::match_results;
        let matched: i64 = match_results::table
            .filter(match_results::run_id.eq(id))
            .filter(match_results::matched_reference_row_id.is_not_null())
            .count()
            .get_result(conn)
            .await?;
        let sum: Option<f64> = match_results::table
            .filter(match_results::run_id.eq(id))
            .select(diesel::dsl::sum(match_results::confidence))
            .first(conn)
            .await?;
        Ok(diesel::update(matching_runs::table.find(id))
            .set((
                matching_runs::rows_matched.eq(i32::try_from(matched)?),
                matching_runs::confidence_sum.eq(sum.unwrap_or(0.0)),
                matching_runs::updated_at.eq(diesel::dsl::now),
            ))
            .returning(MatchingRun::as_returning())
            .get_result(conn)
            .await?)
    }

    /// Ends a running run as completed, with its average confidence. `None` if it was not
    /// running (cancelled meanwhile, say).
    pub async fn complete(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
    ) -> Result<Option<MatchingRun>, StoreError> {
        let now = chrono::Utc::now();
        Ok(diesel::update(
            matching_runs::table
                .find(id)
                .filter(matching_runs::status.eq(MatchingRunStatus::Running)),
        )
        .set((
            matching_runs::status.eq(MatchingRunStatus::Completed),
            matching_runs::avg_confidence.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Float8>,
            >(
                "CASE WHEN rows_processed > 0 THEN confidence_sum / rows_processed END",
            )),
            matching_runs::updated_at.eq(now),
            matching_runs::completed_at.eq(now),
        ))
        .returning(MatchingRun::as_returning())
        .get_result(conn)
        .await
        .optional()?)
    }

    /// Ends a run that has not ended as failed, with a readable reason.
    pub async fn fail(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
        error: &str,
    ) -> Result<Option<MatchingRun>, StoreError> {
        let now = chrono::Utc::now();
        Ok(diesel::update(
            matching_runs::table
                .find(id)
                .filter(matching_runs::status.eq_any([
                    MatchingRunStatus::Queued,
                    MatchingRunStatus::Running,
                    MatchingRunStatus::AiResolving,
                ])),
        )
        .set((
            matching_runs::status.eq(MatchingRunStatus::Failed),
            matching_runs::error.eq(error),
            matching_runs::updated_at.eq(now),
            matching_runs::completed_at.eq(now),
        ))
        .returning(MatchingRun::as_returning())
        .get_result(conn)
        .await
        .optional()?)
    }

    /// Hands a running run to the AI pass (`ai_resolving`), or a completed one again (the
    /// `/ai-resolve` of a finished run). `None` if it is in neither state.
    pub async fn begin_ai_pass(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
    ) -> Result<Option<MatchingRun>, StoreError> {
        Ok(diesel::update(
            matching_runs::table.find(id).filter(
                matching_runs::status
                    .eq_any([MatchingRunStatus::Running, MatchingRunStatus::Completed]),
            ),
        )
        .set((
            matching_runs::status.eq(MatchingRunStatus::AiResolving),
            matching_runs::updated_at.eq(diesel::dsl::now),
        ))
        .returning(MatchingRun::as_returning())
        .get_result(conn)
        .await
        .optional()?)
    }

    /// Adds what one batch of the AI pass did to the run's counters.
    pub async fn record_ai_batch(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
        tally: crate::resolution_runs::AiTally,
    ) -> Result<(), StoreError> {
        diesel::update(matching_runs::table.find(id))
            .set((
                matching_runs::ai_items.eq(matching_runs::ai_items + tally.items),
                matching_runs::ai_accepted.eq(matching_runs::ai_accepted + tally.accepted),
                matching_runs::ai_flagged.eq(matching_runs::ai_flagged + tally.flagged),
                matching_runs::ai_calls.eq(matching_runs::ai_calls + tally.calls),
                matching_runs::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Ends the AI pass: the run completed, its matched count and average confidence taken from
    /// its results as they now are. `None` if it was not `ai_resolving`.
    pub async fn complete_ai_pass(
        conn: &mut AsyncPgConnection,
        id: MatchingRunId,
    ) -> Result<Option<MatchingRun>, StoreError> {
        use crate::schema::match_results;
        let matched: i64 = match_results::table
            .filter(match_results::run_id.eq(id))
            .filter(match_results::matched_reference_row_id.is_not_null())
            .count()
            .get_result(conn)
            .await?;
        let (count, sum): (i64, Option<f64>) = match_results::table
            .filter(match_results::run_id.eq(id))
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::sum(match_results::confidence),
            ))
            .first(conn)
            .await?;
        let sum = sum.unwrap_or(0.0);
        let average = (count > 0).then(|| sum / count_f64(count));
        let now = chrono::Utc::now();
        Ok(diesel::update(
            matching_runs::table
                .find(id)
                .filter(matching_runs::status.eq(MatchingRunStatus::AiResolving)),
        )
        .set((
            matching_runs::status.eq(MatchingRunStatus::Completed),
            matching_runs::rows_matched.eq(i32::try_from(matched)?),
            matching_runs::confidence_sum.eq(sum),
            matching_runs::avg_confidence.eq(average),
            matching_runs::updated_at.eq(now),
            matching_runs::completed_at.eq(now),
        ))
        .returning(MatchingRun::as_returning())
        .get_result(conn)
        .await
        .optional()?)
    }
}

/// A row count as `f64`, for a mean. Exact below 2^53 rows; a run holds at most `i32::MAX`.
#[allow(clippy::cast_precision_loss)] // exact (see above)
fn count_f64(n: i64) -> f64 {
    n as f64
}
