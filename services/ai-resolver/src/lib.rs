//! The ai-resolver: consumes AI tasks and asks an OpenAI-compatible model to choose among the
//! candidates the scoring core proposed.
//!
//! For now it checks that the task names an existing run of its organisation and records it as
//! handled; the model calls arrive with the AI resolver.

use concord_messages::{AiTask, AiTaskRunKind};
use concord_models::ids::{MatchingRunId, OrganizationId, ResolutionRunId};
use concord_models::matching_runs::MatchingRun;
use concord_models::resolution_runs::ResolutionRun;
use concord_service::{JobError, JobHandler};
use diesel_async::AsyncPgConnection;

pub const NAME: &str = "ai-resolver";
pub const DEFAULT_OPS_ADDR: &str = "127.0.0.1:9103";

#[derive(Debug, Default)]
pub struct AiTaskHandler;

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
        tracing::info!(run_id = %task.run_id, run_kind = %task.run_kind, "AI task received");
        Ok(())
    }
}
