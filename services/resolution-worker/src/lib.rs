//! The resolution worker: consumes resolution jobs — chunks of resolution runs — and runs the
//! run's data policy over every document's fields.
//!
//! A chunk is handled in the transaction that records its message: the chunk's documents are
//! resolved with the policy of the run's snapshot against the exact lookup-table versions it
//! names, the results are written in bulk (keyed by run, document and field, so a redelivery
//! changes nothing) and the chunk is counted into the run once. The chunk that completes the
//! count completes the run and announces it — unless values wait for the LLM (a `lookup` with
//! `fallback: "llm"` that abstained): then the run is handed to the ai-resolver through its
//! queue and stays `running` until that pass ends. Compiled policies and lookup tables are kept
//! per worker and shared by every chunk and run.

use concord_messages::{EventType, ResolutionJob, ResolutionJobChunk};
use concord_models::documents::Document;
use concord_models::ids::ResolutionRunId;
use concord_models::outbox::OutboxMessage;
use concord_models::resolution_results::ResolutionResult;
use concord_models::resolution_runs::{ResolutionChunkTally, ResolutionRun, ResolutionRunStatus};
use concord_models::DbPool;
use concord_scoring::policy::EvalLimits;
use concord_service::outbox::resolution_run_event;
use concord_service::{JobError, JobHandler, WorkerContext};
use diesel_async::AsyncPgConnection;

use concord_runs::resolution::{
    resolve_documents, PolicyCache, TableCache, TableError, DEFAULT_POLICIES, DEFAULT_TABLES,
};

pub const NAME: &str = "resolution-worker";
pub const DEFAULT_OPS_ADDR: &str = "127.0.0.1:9102";

pub struct ResolutionJobHandler {
    pool: DbPool,
    tables: TableCache,
    policies: PolicyCache,
    limits: EvalLimits,
}

impl ResolutionJobHandler {
    pub fn new(context: &WorkerContext) -> Self {
        Self {
            pool: context.pool.clone(),
            tables: TableCache::new(DEFAULT_TABLES),
            policies: PolicyCache::new(DEFAULT_POLICIES),
            limits: EvalLimits::default(),
        }
    }
}

/// Why a run cannot go on: it fails with this as its readable `error`.
struct RunFailure(String);

impl JobHandler for ResolutionJobHandler {
    type Job = ResolutionJob;
    const CONSUMER: &'static str = NAME;

    async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        job: &ResolutionJob,
    ) -> Result<(), JobError> {
        let run_id = ResolutionRunId::from(job.run_id);
        let run = ResolutionRun::find_by_id(conn, run_id)
            .await?
            .ok_or_else(|| {
                JobError::Permanent(format!("resolution run {run_id} does not exist"))
            })?;
        if run.organization_id.as_uuid() != job.organization_id {
            return Err(JobError::Permanent(format!(
                "resolution run {run_id} does not belong to organization {}",
                job.organization_id
            )));
        }
        if run.status != ResolutionRunStatus::Running {
            tracing::info!(%run_id, status = %run.status, "run is not running; chunk skipped");
            return Ok(());
        }
        let Some(chunk) = &job.chunk else {
            tracing::info!(%run_id, "no chunk in the message; nothing to do");
            return Ok(());
        };
        if let Err(RunFailure(reason)) = self.resolve_chunk(conn, &run, chunk).await? {
            tracing::warn!(%run_id, %reason, "resolution run failed");
            if let Some(failed) = ResolutionRun::fail(conn, run_id, &reason).await? {
                OutboxMessage::enqueue(
                    conn,
                    resolution_run_event(EventType::ResolutionFailed, &failed),
                )
                .await?;
            }
        }
        Ok(())
    }
}

impl ResolutionJobHandler {
    async fn resolve_chunk(
        &self,
        conn: &mut AsyncPgConnection,
        run: &ResolutionRun,
        chunk: &ResolutionJobChunk,
    ) -> Result<Result<(), RunFailure>, JobError> {
        let snapshot = &run.policy_snapshot.0;
        let policy = match self.policies.get(snapshot).await {
            Ok(policy) => policy,
            Err(reason) => return Ok(Err(RunFailure(reason))),
        };
        let tables = match self.tables.chunk_tables(&self.pool, snapshot).await {
            Ok(tables) => tables,
            Err(TableError::Missing(reason)) => return Ok(Err(RunFailure(reason))),
            Err(TableError::Store(error)) => return Err(error),
        };

        let run_id = run.id;
        // A chunk's positions are document positions (i32 in the store): a message naming others
        // is not one this run planned.
        let position = |what: &str, n: u64| {
            i32::try_from(n).map_err(|_| {
                JobError::Permanent(format!(
                    "chunk {what} {n} of resolution run {run_id} is out of range"
                ))
            })
        };
        let start = position("start", chunk.start)?;
        let end = position("end", chunk.end)?;
        let chunk_index = position("index", chunk.index)?;
        let started = std::time::Instant::now();
        let documents = Document::list(
            conn,
            run.source_run_id,
            Some(start - 1),
            i64::from(end - start),
        )
        .await?;
        let loaded = started.elapsed();
        let limits = self.limits;
        let resolved = tokio::task::spawn_blocking(move || {
            resolve_documents(run_id, &policy, &tables, &limits, &documents)
        })
        .await
        .map_err(|error| JobError::Permanent(format!("resolving the chunk panicked: {error}")))?;
        let resolved_at = started.elapsed();
        ResolutionResult::insert_all(conn, &resolved.results).await?;
        let written = started.elapsed();
        let tally = ResolutionChunkTally {
            chunk_index,
            documents_processed: resolved.tally.documents,
            fields_resolved: resolved.tally.resolved,
            fields_unresolved: resolved.tally.unresolved,
            fields_waiting: resolved.tally.waiting,
        };
        let Some(counted) = ResolutionRun::record_chunk(conn, run_id, tally).await? else {
            tracing::info!(%run_id, chunk_index, "chunk already counted; nothing changes");
            return Ok(Ok(()));
        };
        tracing::info!(
            %run_id,
            chunk_index,
            documents = resolved.tally.documents,
            values = resolved.results.len(),
            waiting = resolved.tally.waiting,
            chunks_done = counted.chunks_done,
            chunks_total = counted.chunks_total,
            load_ms = loaded.as_millis() as u64,
            resolve_ms = (resolved_at - loaded).as_millis() as u64,
            write_ms = (written - resolved_at).as_millis() as u64,
            "chunk resolved"
        );
        if counted.chunks_done >= counted.chunks_total {
            if counted.fields_waiting > 0 {
                // The ai-resolver settles the waiting values and completes the run.
                concord_runs::ai::hand_resolution_run(conn, run).await?;
                tracing::info!(
                    %run_id,
                    waiting = counted.fields_waiting,
                    "values wait for the LLM; run handed to the ai-resolver"
                );
            } else if let Some(completed) = ResolutionRun::complete(conn, run_id).await? {
                OutboxMessage::enqueue(
                    conn,
                    resolution_run_event(EventType::ResolutionCompleted, &completed),
                )
                .await?;
                tracing::info!(%run_id, documents = completed.documents_processed, "resolution run completed");
            }
        }
        Ok(Ok(()))
    }
}
