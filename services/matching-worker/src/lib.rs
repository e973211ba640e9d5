//! The matching worker: consumes matching jobs (chunks of matching runs) and runs the scoring
//! core over them.
//!
//! For now it takes a queued run up (`queued` → `running`, with its start time) in the same
//! transaction that records the message as handled; the scoring itself arrives with matching.

use concord_messages::MatchingJob;
use concord_models::ids::MatchingRunId;
use concord_models::matching_runs::MatchingRun;
use concord_service::{JobError, JobHandler};
use diesel_async::AsyncPgConnection;

pub const NAME: &str = "matching-worker";
pub const DEFAULT_OPS_ADDR: &str = "127.0.0.1:9101";

#[derive(Debug, Default)]
pub struct MatchingJobHandler;

impl JobHandler for MatchingJobHandler {
    type Job = MatchingJob;
    const CONSUMER: &'static str = NAME;

    async fn apply(&self, conn: &mut AsyncPgConnection, job: &MatchingJob) -> Result<(), JobError> {
        let run_id = MatchingRunId::from(job.run_id);
        let run = MatchingRun::start(conn, run_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("matching run {run_id} does not exist")))?;
        tracing::info!(run_id = %run.id, status = %run.status, "matching run taken up");
        Ok(())
    }
}
