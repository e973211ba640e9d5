//! The matching worker: consumes matching jobs — the training of a config's model and the chunks
//! of matching runs — and runs the scoring core over them.
//!
//! A job is handled in the transaction that records its message:
//!
//! * **Training** (`model_id`): the model of a config version learns from a sample of a job
//!   run's documents and from reviewers' labels ([`training`]), and is stored; for a config's
//!   first run (`run_id` too) the run gets the model and its chunks are planned.
//! * **A chunk** (`run_id` and `chunk`): the run is taken up (`queued` → `running`), the chunk's
//!   documents are matched against the reference index, the results are written in bulk (keyed
//!   by run and document, so a redelivery changes nothing) and the chunk is counted into the run
//!   once. The chunk that completes the count finishes the run: for a one-to-one config it first
//!   assigns rows across the whole run ([`assignment`]); then it completes the run and announces
//!   it — or, for a smart run, hands it to the AI pass (`ai_resolving` and an AI task for the
//!   ai-resolver, which completes and announces it). A cancelled or failed run is left alone.
//!
//! The reference index is built once per dataset and mapping per worker ([`IndexCache`]) and
//! shared by every chunk, run and training.

mod assignment;
mod index_cache;
pub mod realtime;
mod scoring;
mod training;

use std::sync::Arc;

use concord_messages::{EventType, MatchingJob};
use concord_models::documents::Document;
use concord_models::ids::{MatchingModelId, MatchingRunId, OrganizationId};
use concord_models::match_results::MatchResult;
use concord_models::matching_configs::Scoring;
use concord_models::matching_runs::{
    ChunkTally, ConfigSnapshot, MatchingMode, MatchingRun, MatchingRunStatus,
};
use concord_models::outbox::OutboxMessage;
use concord_models::reference_datasets::ReferenceDataset;
use concord_models::DbPool;
use concord_runs::engine::{self, ChunkPlace, ChunkedRun, RunFailure};
use concord_scoring::matcher::{Assignment, MatchSettings, MatchSpec, ReferenceIndex};
use concord_service::outbox::matching_run_event;
use concord_service::{JobError, JobHandler, WorkMetrics, WorkerContext};
use diesel_async::AsyncPgConnection;

pub use index_cache::IndexCache;
pub use scoring::ScoredChunk;

pub const NAME: &str = "matching-worker";
pub const DEFAULT_OPS_ADDR: &str = "127.0.0.1:9101";

pub struct MatchingJobHandler {
    pool: DbPool,
    indexes: Arc<IndexCache>,
    metrics: WorkMetrics,
}

impl MatchingJobHandler {
    /// The handler of the worker's jobs; the worker also answers real-time matches
    /// ([`realtime`]) from the same indexes until it stops.
    pub fn new(context: &WorkerContext) -> Self {
        let indexes = Arc::new(IndexCache::new(
            index_cache::DEFAULT_CAPACITY,
            context.metrics.cache("reference_index"),
        ));
        Arc::new(realtime::RealtimeMatcher::new(
            context.pool.clone(),
            Arc::clone(&indexes),
        ))
        .spawn(context);
        Self {
            pool: context.pool.clone(),
            indexes,
            metrics: context.metrics.clone(),
        }
    }
}

/// What a run's snapshot compiles to against its dataset as it is now.
#[derive(Clone)]
pub struct Prepared {
    pub(crate) spec: Arc<MatchSpec>,
    pub(crate) index: Arc<ReferenceIndex>,
}

impl JobHandler for MatchingJobHandler {
    type Job = MatchingJob;
    const CONSUMER: &'static str = NAME;

    async fn apply(&self, conn: &mut AsyncPgConnection, job: &MatchingJob) -> Result<(), JobError> {
        let organization_id = OrganizationId::from(job.organization_id);
        let run_id = job.run_id.map(MatchingRunId::from);
        if let Some(model_id) = job.model_id {
            return self
                .train(
                    conn,
                    organization_id,
                    MatchingModelId::from(model_id),
                    run_id,
                )
                .await;
        }
        let Some(run_id) = run_id else {
            return Err(JobError::Permanent(
                "the matching job names neither a run nor a model".to_owned(),
            ));
        };
        let place = job.chunk.as_ref().map(ChunkPlace::from);
        let Some(run) = self.take_up(conn, organization_id, run_id, place).await? else {
            return Ok(());
        };
        let Some(chunk) = &job.chunk else {
            tracing::info!(%run_id, "run taken up (no chunk in the message)");
            return Ok(());
        };
        engine::take_chunk(self, conn, &run, chunk.into()).await
    }
}

/// A matching run's chunks: documents scored against the reference index, results written, the
/// run completed — assigned one-to-one first, or handed to the AI pass when it is smart.
impl ChunkedRun for MatchingJobHandler {
    type Run = MatchingRun;
    type Prepared = Prepared;
    type Output = ScoredChunk;

    fn metrics(&self) -> &WorkMetrics {
        &self.metrics
    }

    async fn prepare(
        &self,
        conn: &mut AsyncPgConnection,
        run: &MatchingRun,
    ) -> Result<Result<Prepared, RunFailure>, JobError> {
        let snapshot = &run.config_snapshot.0;
        let model = run.model.as_ref().map(|m| &m.0);
        if snapshot.scoring == Scoring::Probabilistic && model.is_none() {
            return Ok(Err(RunFailure(
                "the run scores probabilistically but has no trained model".to_owned(),
            )));
        }
        self.compile(conn, snapshot, model).await
    }

    fn compute(
        run_id: MatchingRunId,
        prepared: &Prepared,
        documents: Vec<Document>,
    ) -> ScoredChunk {
        scoring::score_documents(run_id, &prepared.spec, &prepared.index, documents)
    }

    async fn write(
        &self,
        conn: &mut AsyncPgConnection,
        output: &ScoredChunk,
    ) -> Result<(), JobError> {
        MatchResult::insert_all(conn, &output.results).await?;
        Ok(())
    }

    async fn count(
        &self,
        conn: &mut AsyncPgConnection,
        run: &MatchingRun,
        chunk_index: i32,
        output: &ScoredChunk,
    ) -> Result<Option<MatchingRun>, JobError> {
        let tally = ChunkTally {
            chunk_index,
            rows_processed: output.tally.processed,
            rows_matched: output.tally.matched,
            confidence_sum: output.tally.confidence_sum,
        };
        Ok(MatchingRun::record_chunk(conn, run.id, tally).await?)
    }

    /// The last chunk is in: a one-to-one run is assigned across all its results; then a smart
    /// run goes to the AI pass, any other completes.
    async fn finish(
        &self,
        conn: &mut AsyncPgConnection,
        run: &MatchingRun,
        Prepared { spec, index }: &Prepared,
    ) -> Result<(), JobError> {
        let assigned;
        let run = if spec.settings().assignment == Assignment::OneToOne {
            assigned = assignment::assign_run(conn, run, spec, index).await?;
            &assigned
        } else {
            run
        };
        if run.mode == MatchingMode::Smart {
            return self.hand_to_ai(conn, run).await;
        }
        if let Some(completed) = MatchingRun::complete(conn, run.id).await? {
            OutboxMessage::enqueue(
                conn,
                matching_run_event(EventType::MatchingRunCompleted, &completed)?,
            )
            .await?;
            tracing::info!(run_id = %run.id, rows = completed.rows_processed, "matching run completed");
        }
        Ok(())
    }
}

impl MatchingJobHandler {
    /// The run, taken up (`queued` → `running`); `None` when it has ended (a cancelled run's
    /// chunks are skipped). The `chunk` the job names is checked against the run's plan first,
    /// whatever the run's state: a malformed chunk is a permanent error even after its run ended.
    pub(crate) async fn take_up(
        &self,
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        run_id: MatchingRunId,
        chunk: Option<ChunkPlace>,
    ) -> Result<Option<MatchingRun>, JobError> {
        let run: MatchingRun = engine::find_run(conn, organization_id, run_id).await?;
        if let Some(place) = chunk {
            engine::plan_span(&run, place)?;
        }
        if run.status.has_ended() {
            tracing::info!(%run_id, status = %run.status, "run has ended; job skipped");
            return Ok(None);
        }
        if run.status == MatchingRunStatus::Queued {
            return Ok(Some(MatchingRun::start(conn, run_id).await?.unwrap_or(run)));
        }
        Ok(Some(run))
    }

    /// The spec of a snapshot (with `model` for probabilistic scoring) and the index of its
    /// dataset.
    pub(crate) async fn compile(
        &self,
        conn: &mut AsyncPgConnection,
        snapshot: &ConfigSnapshot,
        model: Option<&concord_scoring::matcher::MatchModel>,
    ) -> Result<Result<Prepared, RunFailure>, JobError> {
        let Some(dataset) = ReferenceDataset::find_by_id(conn, snapshot.reference_data_id).await?
        else {
            return Ok(Err(RunFailure(format!(
                "the reference dataset {} of config `{}` was deleted",
                snapshot.reference_data_id, snapshot.name
            ))));
        };
        let columns: Vec<String> = dataset.columns().iter().map(|c| c.name.clone()).collect();
        let spec = match compile_with_model(snapshot, &columns, model) {
            Ok(spec) => Arc::new(spec),
            Err(reason) => return Ok(Err(RunFailure(reason))),
        };
        let index = self
            .indexes
            .get_or_build(&self.pool, &dataset, &columns, &spec)
            .await?;
        Ok(Ok(Prepared { spec, index }))
    }

    /// The last chunk of a smart run: the run goes to the AI pass (`ai_resolving`) and the
    /// ai-resolver gets its task in the same transaction; it completes the run and announces it.
    /// Nothing happens if the run is no longer running (cancelled meanwhile, say).
    async fn hand_to_ai(
        &self,
        conn: &mut AsyncPgConnection,
        run: &MatchingRun,
    ) -> Result<(), JobError> {
        let Some(handed) = concord_runs::ai::hand_matching_run(conn, run, Vec::new()).await? else {
            tracing::info!(run_id = %run.id, "smart run no longer running; no AI pass");
            return Ok(());
        };
        tracing::info!(
            run_id = %handed.id,
            rows = handed.rows_processed,
            "smart run scored; handed to the ai-resolver"
        );
        Ok(())
    }
}

/// The threads the core's parallel steps (index build, training) use: one per core.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A job that cannot be what its sender meant (a count or position out of range).
fn permanent(error: impl std::fmt::Display) -> JobError {
    JobError::Permanent(format!("the job is malformed: {error}"))
}

/// [`compile_spec`], scoring with `model` when the snapshot scores probabilistically.
pub(crate) fn compile_with_model(
    snapshot: &ConfigSnapshot,
    columns: &[String],
    model: Option<&concord_scoring::matcher::MatchModel>,
) -> Result<MatchSpec, String> {
    let spec = compile_spec(snapshot, columns)?;
    match (snapshot.scoring, model) {
        (Scoring::Weighted, _) | (Scoring::Probabilistic, None) => Ok(spec),
        (Scoring::Probabilistic, Some(model)) => spec
            .with_model(model.clone())
            .map_err(|error| format!("the model does not fit its config: {}", error.message)),
    }
}

/// The scoring core's spec of a run's snapshot, against the dataset's columns as they are.
pub(crate) fn compile_spec(
    snapshot: &ConfigSnapshot,
    columns: &[String],
) -> Result<MatchSpec, String> {
    let mappings = &snapshot.field_mappings;
    let candidates = match snapshot.candidates {
        Some(k) => usize::try_from(k)
            .map_err(|_| format!("the run's candidate count {k} is not a count"))?,
        None => concord_scoring::matcher::TOP_CANDIDATES,
    };
    let settings = MatchSettings::new(
        Some(snapshot.threshold),
        Some(snapshot.review_floor),
        Some(snapshot.ambiguity_margin),
    )
    .and_then(|settings| {
        settings
            .with_scoring(snapshot.scoring.into())
            .with_assignment(snapshot.assignment.into())
            .with_candidates(candidates)
    })
    .map_err(|error| format!("the config is invalid at {}: {}", error.path, error.message))?;
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    MatchSpec::compile(mappings, settings, &columns)
        .map_err(|error| format!("the config is invalid at {}: {}", error.path, error.message))
}
