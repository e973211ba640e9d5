use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{DataPolicyId, DialectId, JobRunId, OrganizationId, ResolutionRunId};
use crate::lookup_tables::TableRef;
use crate::schema::{resolution_run_chunks, resolution_runs};
use crate::text_enum::text_enum;
use crate::{Json, StoreError};

text_enum! {
    /// pending → running → completed | failed
    pub enum ResolutionRunStatus {
        Pending => "pending",
        Running => "running",
        Completed => "completed",
        Failed => "failed",
    }
}

impl ResolutionRunStatus {
    /// Completed and failed runs change no more.
    pub fn has_ended(self) -> bool {
        matches!(
            self,
            ResolutionRunStatus::Completed | ResolutionRunStatus::Failed
        )
    }
}

/// A run of a data policy over the documents of a completed job run, with snapshots of the
/// policy (and the lookup-table versions it uses) and of the dialect taken when it was created.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = resolution_runs, check_for_backend(diesel::pg::Pg))]
pub struct ResolutionRun {
    pub id: ResolutionRunId,
    pub organization_id: OrganizationId,
    pub source_run_id: JobRunId,
    pub status: ResolutionRunStatus,
    pub policy_snapshot: Json<PolicySnapshot>,
    pub dialect_snapshot: Option<Json<DialectSnapshot>>,
    pub documents_total: i32,
    pub documents_processed: i32,
    pub fields_resolved: i32,
    pub fields_unresolved: i32,
    pub fields_waiting: i32,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub policy_id: Option<DataPolicyId>,
    pub dialect_id: Option<DialectId>,
    pub chunks_total: i32,
    pub chunks_done: i32,
    /// Values the AI pass gave the model, answers it used, values it flagged, model calls made.
    pub ai_items: i32,
    pub ai_accepted: i32,
    pub ai_flagged: i32,
    pub ai_calls: i32,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = resolution_runs)]
pub struct NewResolutionRun {
    pub id: ResolutionRunId,
    pub organization_id: OrganizationId,
    pub source_run_id: JobRunId,
    pub status: ResolutionRunStatus,
    pub policy_snapshot: Json<PolicySnapshot>,
    pub dialect_snapshot: Option<Json<DialectSnapshot>>,
    pub documents_total: i32,
    pub policy_id: Option<DataPolicyId>,
    pub dialect_id: Option<DialectId>,
}

/// The policy a run resolves with, as it was when the run was created: its fields and rules and
/// the exact lookup-table versions its rules name.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PolicySnapshot {
    pub policy_id: DataPolicyId,
    pub name: String,
    pub version: i32,
    pub fields: Vec<concord_scoring::policy::FieldSpec>,
    pub rules: Vec<concord_scoring::policy::RuleSpec>,
    pub tables: Vec<TableRef>,
    /// Documents per chunk job.
    pub chunk_size: i32,
}

/// The dialect a run renders and exports its results in, as it was when the run was created.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DialectSnapshot {
    pub dialect_id: DialectId,
    pub name: String,
    pub version: i32,
    pub settings: concord_scoring::dialect::DialectSettings,
}

/// What one chunk adds to its run's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResolutionChunkTally {
    pub chunk_index: i32,
    pub documents_processed: i32,
    pub fields_resolved: i32,
    pub fields_unresolved: i32,
    pub fields_waiting: i32,
}

impl ResolutionRun {
    /// The data of the `resolution.*` events.
    pub fn event_data(&self) -> serde_json::Value {
        serde_json::json!({
            "run_id": self.id.to_string(),
            "source_run_id": self.source_run_id.to_string(),
            "policy_id": self.policy_id.map(|id| id.to_string()),
            "status": self.status,
            "documents_total": self.documents_total,
            "documents_processed": self.documents_processed,
            "fields_resolved": self.fields_resolved,
            "fields_unresolved": self.fields_unresolved,
            "fields_waiting": self.fields_waiting,
            "error": self.error,
        })
    }

    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewResolutionRun,
    ) -> Result<ResolutionRun, StoreError> {
        Ok(diesel::insert_into(resolution_runs::table)
            .values(new)
            .returning(ResolutionRun::as_returning())
            .get_result(conn)
            .await?)
    }

    pub async fn find_by_id(
        conn: &mut AsyncPgConnection,
        id: ResolutionRunId,
    ) -> Result<Option<ResolutionRun>, StoreError> {
        Ok(resolution_runs::table
            .find(id)
            .select(ResolutionRun::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// The organisation's run (`None` for another organisation's).
    pub async fn find(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: ResolutionRunId,
    ) -> Result<Option<ResolutionRun>, StoreError> {
        Ok(resolution_runs::table
            .find(id)
            .filter(resolution_runs::organization_id.eq(organization_id))
            .select(ResolutionRun::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// Newest first, before the given id.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        before: Option<ResolutionRunId>,
        limit: i64,
    ) -> Result<Vec<ResolutionRun>, StoreError> {
        let mut query = resolution_runs::table
            .filter(resolution_runs::organization_id.eq(organization_id))
            .order(resolution_runs::id.desc())
            .limit(limit)
            .select(ResolutionRun::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(resolution_runs::id.lt(before));
        }
        Ok(query.load(conn).await?)
    }

    /// Starts a pending run: `running`, with its start time and the number of chunks its jobs
    /// split it into. `None` if it was not pending (it is left as it is); the row stays locked
    /// until the caller's transaction ends, so two executes can't both start it.
    pub async fn execute(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: ResolutionRunId,
        chunks_total: i32,
    ) -> Result<Option<ResolutionRun>, StoreError> {
        Ok(diesel::update(
            resolution_runs::table
                .find(id)
                .filter(resolution_runs::organization_id.eq(organization_id))
                .filter(resolution_runs::status.eq(ResolutionRunStatus::Pending)),
        )
        .set((
            resolution_runs::status.eq(ResolutionRunStatus::Running),
            resolution_runs::chunks_total.eq(chunks_total),
            resolution_runs::started_at.eq(diesel::dsl::now),
            resolution_runs::updated_at.eq(diesel::dsl::now),
        ))
        .returning(ResolutionRun::as_returning())
        .get_result(conn)
        .await
        .optional()?)
    }

    /// Counts a chunk into its run, once: a chunk already counted (a redelivery) returns `None`
    /// and changes nothing. Otherwise returns the run with its counters as they now are; the
    /// run's row stays locked until the transaction ends, so exactly one of the chunks finishing
    /// together sees the last chunk done.
    pub async fn record_chunk(
        conn: &mut AsyncPgConnection,
        id: ResolutionRunId,
        tally: ResolutionChunkTally,
    ) -> Result<Option<ResolutionRun>, StoreError> {
        let inserted = diesel::insert_into(resolution_run_chunks::table)
            .values((
                resolution_run_chunks::run_id.eq(id),
                resolution_run_chunks::chunk_index.eq(tally.chunk_index),
                resolution_run_chunks::documents_processed.eq(tally.documents_processed),
                resolution_run_chunks::fields_resolved.eq(tally.fields_resolved),
                resolution_run_chunks::fields_unresolved.eq(tally.fields_unresolved),
                resolution_run_chunks::fields_waiting.eq(tally.fields_waiting),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 0 {
            return Ok(None);
        }
        Ok(Some(
            diesel::update(resolution_runs::table.find(id))
                .set((
                    resolution_runs::documents_processed
                        .eq(resolution_runs::documents_processed + tally.documents_processed),
                    resolution_runs::fields_resolved
                        .eq(resolution_runs::fields_resolved + tally.fields_resolved),
                    resolution_runs::fields_unresolved
                        .eq(resolution_runs::fields_unresolved + tally.fields_unresolved),
                    resolution_runs::fields_waiting
                        .eq(resolution_runs::fields_waiting + tally.fields_waiting),
                    resolution_runs::chunks_done.eq(resolution_runs::chunks_done + 1),
                    resolution_runs::updated_at.eq(diesel::dsl::now),
                ))
                .returning(ResolutionRun::as_returning())
                .get_result(conn)
                .await?,
        ))
    }

    /// Ends a running run as completed. `None` if it was not running.
    pub async fn complete(
        conn: &mut AsyncPgConnection,
        id: ResolutionRunId,
    ) -> Result<Option<ResolutionRun>, StoreError> {
        Ok(diesel::update(
            resolution_runs::table
                .find(id)
                .filter(resolution_runs::status.eq(ResolutionRunStatus::Running)),
        )
        .set((
            resolution_runs::status.eq(ResolutionRunStatus::Completed),
            resolution_runs::updated_at.eq(diesel::dsl::now),
            resolution_runs::completed_at.eq(diesel::dsl::now),
        ))
        .returning(ResolutionRun::as_returning())
        .get_result(conn)
        .await
        .optional()?)
    }

    /// Ends a run that has not ended as failed, with a readable reason.
    pub async fn fail(
        conn: &mut AsyncPgConnection,
        id: ResolutionRunId,
        error: &str,
    ) -> Result<Option<ResolutionRun>, StoreError> {
        Ok(diesel::update(
            resolution_runs::table.find(id).filter(
                resolution_runs::status
                    .eq_any([ResolutionRunStatus::Pending, ResolutionRunStatus::Running]),
            ),
        )
        .set((
            resolution_runs::status.eq(ResolutionRunStatus::Failed),
            resolution_runs::error.eq(error),
            resolution_runs::updated_at.eq(diesel::dsl::now),
            resolution_runs::completed_at.eq(diesel::dsl::now),
        ))
        .returning(ResolutionRun::as_returning())
        .get_result(conn)
        .await
        .optional()?)
    }

    /// Adds what one batch of the AI pass did to the run's AI counters (in the transaction that
    /// stores the batch's answers).
    pub async fn record_ai_batch(
        conn: &mut AsyncPgConnection,
        id: ResolutionRunId,
        tally: AiTally,
    ) -> Result<(), StoreError> {
        diesel::update(resolution_runs::table.find(id))
            .set((
                resolution_runs::ai_items.eq(resolution_runs::ai_items + tally.items),
                resolution_runs::ai_accepted.eq(resolution_runs::ai_accepted + tally.accepted),
                resolution_runs::ai_flagged.eq(resolution_runs::ai_flagged + tally.flagged),
                resolution_runs::ai_calls.eq(resolution_runs::ai_calls + tally.calls),
                resolution_runs::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Ends the AI pass of a running run: its counters taken from its results as they now are,
    /// and the run completed. `None` if it was not running.
    pub async fn complete_ai_pass(
        conn: &mut AsyncPgConnection,
        id: ResolutionRunId,
    ) -> Result<Option<ResolutionRun>, StoreError> {
        let (resolved, unresolved, waiting) =
            crate::resolution_results::ResolutionResult::count_by_status(conn, id).await?;
        let (resolved, unresolved, waiting) = (
            i32::try_from(resolved)?,
            i32::try_from(unresolved)?,
            i32::try_from(waiting)?,
        );
        Ok(diesel::update(
            resolution_runs::table
                .find(id)
                .filter(resolution_runs::status.eq(ResolutionRunStatus::Running)),
        )
        .set((
            resolution_runs::status.eq(ResolutionRunStatus::Completed),
            resolution_runs::fields_resolved.eq(resolved),
            resolution_runs::fields_unresolved.eq(unresolved),
            resolution_runs::fields_waiting.eq(waiting),
            resolution_runs::updated_at.eq(diesel::dsl::now),
            resolution_runs::completed_at.eq(diesel::dsl::now),
        ))
        .returning(ResolutionRun::as_returning())
        .get_result(conn)
        .await
        .optional()?)
    }
}

/// What an AI pass adds to a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AiTally {
    pub items: i32,
    pub accepted: i32,
    pub flagged: i32,
    pub calls: i32,
}
