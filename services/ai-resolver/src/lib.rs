//! The ai-resolver: consumes AI tasks and asks an OpenAI-compatible model ([`concord_llm`]) to
//! choose among the candidates the scoring core proposed, validates the answer, stores it, and
//! completes the run.
//!
//! - Resolution runs ([`resolution`]): the values a `lookup` with `fallback: "llm"` left waiting.
//! - Matching runs ([`matching`]): the documents a smart run (or `/ai-resolve`) leaves in the
//!   review band, ambiguous, or unmatched with candidates.
//!
//! The model is bounded (timeouts, retries, a per-run budget of calls) and never a reason for a
//! run to fail: an item it could not settle keeps its deterministic outcome and is flagged.
//!
//! A pass is long (model calls take seconds) and stores its decisions batch by batch, so a
//! stopping worker does not finish it: it abandons the calls of the batch it is on (nothing of
//! that batch is stored yet), the task goes back to the queue ([`JobError::Interrupted`]) and
//! its next delivery asks only about what is still undecided. A SIGTERM ends the pass at once.

mod matching;
mod resolution;

use std::sync::Arc;

use concord_llm::{LlmClient, LlmSettings};
use concord_messages::{AiTask, AiTaskRunKind};
use concord_models::ids::{MatchingRunId, OrganizationId, ResolutionRunId};
use concord_models::matching_runs::MatchingRun;
use concord_models::resolution_runs::ResolutionRun;
use concord_models::DbPool;
use concord_runs::resolution::TableCache;
use concord_service::{JobError, JobHandler, WorkerContext};
use diesel_async::AsyncPgConnection;
use tokio_util::sync::CancellationToken;

pub use matching::MIN_MATCH_CONFIDENCE;
pub use resolution::MIN_CONFIDENCE;

pub const NAME: &str = "ai-resolver";
pub const DEFAULT_OPS_ADDR: &str = "127.0.0.1:9103";

pub struct AiTaskHandler {
    pool: DbPool,
    llm: LlmClient,
    tables: TableCache,
    outbox_waker: Arc<tokio::sync::Notify>,
    /// Fires when the worker stops: a pass then abandons the batch it is on.
    shutdown: CancellationToken,
}

impl AiTaskHandler {
    pub fn new(context: &WorkerContext, llm: LlmClient) -> Self {
        Self {
            pool: context.pool.clone(),
            llm,
            tables: TableCache::new(8),
            outbox_waker: context.outbox_waker.clone(),
            shutdown: context.shutdown.clone(),
        }
    }

    /// A handler with the model client of `settings`, its metrics in the worker's registry.
    pub fn from_settings(
        context: &WorkerContext,
        settings: LlmSettings,
    ) -> Result<Self, concord_llm::LlmError> {
        let llm = LlmClient::new(settings, &context.registry)?;
        Ok(Self::new(context, llm))
    }
}

impl JobHandler for AiTaskHandler {
    type Job = AiTask;
    const CONSUMER: &'static str = NAME;

    async fn apply(&self, conn: &mut AsyncPgConnection, task: &AiTask) -> Result<(), JobError> {
        let organization_id = OrganizationId::from(task.organization_id);
        let owner = match task.run_kind {
            AiTaskRunKind::Matching => {
                MatchingRun::find_by_id(conn, MatchingRunId::from(task.run_id))
                    .await?
                    .map(|run| run.organization_id)
            }
            AiTaskRunKind::Resolution => {
                ResolutionRun::find_by_id(conn, ResolutionRunId::from(task.run_id))
                    .await?
                    .map(|run| run.organization_id)
            }
        };
        if owner != Some(organization_id) {
            return Err(JobError::Permanent(format!(
                "{} run {} does not exist in organisation {organization_id}",
                task.run_kind, task.run_id
            )));
        }
        match task.run_kind {
            AiTaskRunKind::Resolution => {
                resolution::ResolutionPass {
                    pool: &self.pool,
                    llm: &self.llm,
                    tables: &self.tables,
                    outbox_waker: &self.outbox_waker,
                    shutdown: &self.shutdown,
                }
                .run(ResolutionRunId::from(task.run_id))
                .await
            }
            AiTaskRunKind::Matching => {
                matching::MatchingPass {
                    pool: &self.pool,
                    llm: &self.llm,
                    outbox_waker: &self.outbox_waker,
                    shutdown: &self.shutdown,
                }
                .run(MatchingRunId::from(task.run_id), &task.item_ids)
                .await
            }
        }
    }
}

/// The model's answers for a batch, unless the worker is stopping (checked first) or stops while
/// it waits: then the batch's calls are abandoned — nothing of the batch is stored yet, so its
/// next delivery asks again — and the pass ends at once rather than after calls that may take
/// the model minutes. (The abandoned calls are not in the run's `ai_calls`, which counts the
/// calls of stored batches.)
async fn unless_stopping<T>(
    shutdown: &CancellationToken,
    answers: impl std::future::Future<Output = T>,
) -> Result<T, JobError> {
    tokio::select! {
        biased;
        () = shutdown.cancelled() => Err(stopping()),
        answers = answers => Ok(answers),
    }
}

fn stopping() -> JobError {
    JobError::Interrupted(
        "the ai-resolver is stopping; the rest of the AI pass is left to the next delivery"
            .to_owned(),
    )
}
