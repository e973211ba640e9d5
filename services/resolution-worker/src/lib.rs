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

use std::sync::Arc;

use concord_messages::{EventType, ResolutionJob};
use concord_models::documents::Document;
use concord_models::ids::{OrganizationId, ResolutionRunId};
use concord_models::outbox::OutboxMessage;
use concord_models::resolution_results::ResolutionResult;
use concord_models::resolution_runs::{ResolutionChunkTally, ResolutionRun, ResolutionRunStatus};
use concord_models::DbPool;
use concord_scoring::policy::{CompiledPolicy, EvalLimits};
use concord_service::outbox::resolution_run_event;
use concord_service::{JobError, JobHandler, WorkMetrics, WorkerContext};
use diesel_async::AsyncPgConnection;

use concord_runs::engine::{self, ChunkedRun, RunFailure};
use concord_runs::resolution::{
    resolve_documents, ChunkTables, PolicyCache, Resolved, TableCache, TableError,
    DEFAULT_POLICIES, DEFAULT_TABLES,
};

pub const NAME: &str = "resolution-worker";
pub const DEFAULT_OPS_ADDR: &str = "127.0.0.1:9102";

pub struct ResolutionJobHandler {
    pool: DbPool,
    tables: TableCache,
    policies: PolicyCache,
    limits: EvalLimits,
    metrics: WorkMetrics,
}

impl ResolutionJobHandler {
    pub fn new(context: &WorkerContext) -> Self {
        Self {
            pool: context.pool.clone(),
            tables: TableCache::new(DEFAULT_TABLES).observed(context.metrics.cache("lookup_table")),
            policies: PolicyCache::new(DEFAULT_POLICIES)
                .observed(context.metrics.cache("compiled_policy")),
            limits: EvalLimits::default(),
            metrics: context.metrics.clone(),
        }
    }
}

/// A chunk's compiled policy and tables, shared with the caches.
#[derive(Clone)]
pub struct PreparedPolicy {
    policy: Arc<CompiledPolicy>,
    tables: Arc<ChunkTables>,
    limits: EvalLimits,
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
        let organization_id = OrganizationId::from(job.organization_id);
        let run: ResolutionRun = engine::find_run(conn, organization_id, run_id).await?;
        // A run that was executed has its plan, whatever its state now: a malformed chunk of it
        // is dead-lettered even after the run ended. A pending run has no plan yet (execute
        // makes it and the chunks in one transaction), so no chunk of it can be checked.
        if let (Some(chunk), false) = (&job.chunk, run.status == ResolutionRunStatus::Pending) {
            engine::plan_span(&run, chunk.into())?;
        }
        if run.status != ResolutionRunStatus::Running {
            tracing::info!(%run_id, status = %run.status, "run is not running; chunk skipped");
            return Ok(());
        }
        let Some(chunk) = &job.chunk else {
            tracing::info!(%run_id, "no chunk in the message; nothing to do");
            return Ok(());
        };
        engine::take_chunk(self, conn, &run, chunk.into()).await
    }
}

/// A resolution run's chunks: every document's fields resolved by the run's policy, results
/// written, the run completed — or handed to the ai-resolver when values wait for the LLM.
impl ChunkedRun for ResolutionJobHandler {
    type Run = ResolutionRun;
    type Prepared = PreparedPolicy;
    type Output = Resolved;

    fn metrics(&self) -> &WorkMetrics {
        &self.metrics
    }

    async fn prepare(
        &self,
        _conn: &mut AsyncPgConnection,
        run: &ResolutionRun,
    ) -> Result<Result<PreparedPolicy, RunFailure>, JobError> {
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
        Ok(Ok(PreparedPolicy {
            policy,
            tables: Arc::new(tables),
            limits: self.limits,
        }))
    }

    fn compute(
        run_id: ResolutionRunId,
        prepared: &PreparedPolicy,
        documents: Vec<Document>,
    ) -> Resolved {
        resolve_documents(
            run_id,
            &prepared.policy,
            prepared.tables.as_ref(),
            &prepared.limits,
            &documents,
        )
    }

    async fn write(&self, conn: &mut AsyncPgConnection, output: &Resolved) -> Result<(), JobError> {
        ResolutionResult::insert_all(conn, &output.results).await?;
        Ok(())
    }

    async fn count(
        &self,
        conn: &mut AsyncPgConnection,
        run: &ResolutionRun,
        chunk_index: i32,
        output: &Resolved,
    ) -> Result<Option<ResolutionRun>, JobError> {
        let tally = ResolutionChunkTally {
            chunk_index,
            documents_processed: output.tally.documents,
            fields_resolved: output.tally.resolved,
            fields_unresolved: output.tally.unresolved,
            fields_waiting: output.tally.waiting,
        };
        Ok(ResolutionRun::record_chunk(conn, run.id, tally).await?)
    }

    /// The last chunk is in: values waiting for the LLM send the run to the ai-resolver (which
    /// settles them and completes it); otherwise the run completes.
    async fn finish(
        &self,
        conn: &mut AsyncPgConnection,
        run: &ResolutionRun,
        _prepared: &PreparedPolicy,
    ) -> Result<(), JobError> {
        let run_id = run.id;
        if run.fields_waiting > 0 {
            concord_runs::ai::hand_resolution_run(conn, run).await?;
            tracing::info!(
                %run_id,
                waiting = run.fields_waiting,
                "values wait for the LLM; run handed to the ai-resolver"
            );
        } else if let Some(completed) = ResolutionRun::complete(conn, run_id).await? {
            OutboxMessage::enqueue(
                conn,
                resolution_run_event(EventType::ResolutionCompleted, &completed)?,
            )
            .await?;
            tracing::info!(%run_id, documents = completed.documents_processed, "resolution run completed");
        }
        Ok(())
    }
}
