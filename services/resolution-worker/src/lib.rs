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

mod resolve;
mod tables;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use concord_messages::{jobs, AiTask, AiTaskRunKind, EventType, ResolutionJob, ResolutionJobChunk};
use concord_models::documents::Document;
use concord_models::ids::{DataPolicyId, ResolutionRunId};
use concord_models::outbox::OutboxMessage;
use concord_models::resolution_results::ResolutionResult;
use concord_models::resolution_runs::{
    PolicySnapshot, ResolutionChunkTally, ResolutionRun, ResolutionRunStatus,
};
use concord_models::DbPool;
use concord_scoring::lookup::LookupIndex;
use concord_scoring::policy::{CompiledPolicy, EvalLimits, PolicyDocument};
use concord_service::outbox::resolution_run_event;
use concord_service::{JobError, JobHandler, WorkerContext};
use diesel_async::AsyncPgConnection;

pub use resolve::{resolve_documents, resolve_documents_with, Resolved, Tally};
pub use tables::{TableCache, TableError};

pub const NAME: &str = "resolution-worker";
pub const DEFAULT_OPS_ADDR: &str = "127.0.0.1:9102";

/// Compiled policies kept per worker.
const POLICY_CACHE: usize = 16;

/// The compiled policies a worker keeps, by policy and version, least recently compiled first.
type PolicyCache = Mutex<VecDeque<((DataPolicyId, i32), Arc<CompiledPolicy>)>>;

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
            tables: TableCache::new(tables::DEFAULT_CAPACITY),
            policies: Mutex::new(VecDeque::new()),
            limits: EvalLimits::default(),
        }
    }
}

/// Why a run cannot go on: it fails with this as its readable `error`.
struct RunFailure(String);

/// The tables of one chunk, by the names the policy's rules use.
pub struct ChunkTables(HashMap<String, Arc<LookupIndex>>);

impl ChunkTables {
    pub fn new(tables: HashMap<String, Arc<LookupIndex>>) -> Self {
        Self(tables)
    }
}

impl concord_scoring::policy::LookupTables for ChunkTables {
    fn get(&self, name: &str) -> Option<&LookupIndex> {
        self.0.get(name).map(|index| index.as_ref())
    }
}

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
    fn compiled_policy(&self, snapshot: &PolicySnapshot) -> Result<Arc<CompiledPolicy>, String> {
        let key = (snapshot.policy_id, snapshot.version);
        {
            let cache = self.policies.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, policy)) = cache.iter().find(|(k, _)| *k == key) {
                return Ok(policy.clone());
            }
        }
        let document: PolicyDocument = serde_json::from_value(serde_json::json!({
            "fields": snapshot.fields,
            "rules": snapshot.rules,
        }))
        .map_err(|error| format!("the run's policy snapshot is unreadable: {error}"))?;
        let known: Vec<&str> = snapshot.tables.iter().map(|t| t.name.as_str()).collect();
        let policy = CompiledPolicy::compile(&document, &|name| known.contains(&name))
            .map(Arc::new)
            .map_err(|errors| {
                format!(
                    "the run's policy is invalid: {}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
        let mut cache = self.policies.lock().unwrap_or_else(|e| e.into_inner());
        cache.push_back((key, policy.clone()));
        while cache.len() > POLICY_CACHE {
            cache.pop_front();
        }
        Ok(policy)
    }

    async fn resolve_chunk(
        &self,
        conn: &mut AsyncPgConnection,
        run: &ResolutionRun,
        chunk: &ResolutionJobChunk,
    ) -> Result<Result<(), RunFailure>, JobError> {
        let snapshot: PolicySnapshot = match serde_json::from_value(run.policy_snapshot.clone()) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                return Ok(Err(RunFailure(format!(
                    "the run's policy snapshot is unreadable: {error}"
                ))))
            }
        };
        let policy = match self.compiled_policy(&snapshot) {
            Ok(policy) => policy,
            Err(reason) => return Ok(Err(RunFailure(reason))),
        };
        let mut tables = HashMap::new();
        for table in &snapshot.tables {
            match self.tables.get(&self.pool, table).await {
                Ok(index) => {
                    tables.insert(table.name.clone(), index);
                }
                Err(tables::TableError::Missing(reason)) => return Ok(Err(RunFailure(reason))),
                Err(tables::TableError::Store(error)) => return Err(error),
            }
        }
        let tables = ChunkTables(tables);

        let run_id = run.id;
        let start = i32::try_from(chunk.start).unwrap_or(i32::MAX);
        let end = i32::try_from(chunk.end).unwrap_or(i32::MAX);
        let chunk_index = i32::try_from(chunk.index).unwrap_or(i32::MAX);
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
                let task = AiTask {
                    run_id: run_id.as_uuid(),
                    run_kind: AiTaskRunKind::Resolution,
                    organization_id: run.organization_id.as_uuid(),
                    item_ids: Vec::new(),
                };
                OutboxMessage::enqueue(conn, concord_service::outbox::job(jobs::AI, &task)).await?;
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
