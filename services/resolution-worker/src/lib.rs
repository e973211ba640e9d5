//! The resolution worker: consumes resolution jobs (chunks of resolution runs) and runs the data
//! policy over every document's fields.
//!
//! For now it takes the run up (`running`, with its start time) in the same transaction that
//! records the message as handled; the policies arrive with resolution.

use concord_messages::ResolutionJob;
use concord_models::ids::ResolutionRunId;
use concord_models::resolution_runs::ResolutionRun;
use concord_service::{JobError, JobHandler};
use diesel_async::AsyncPgConnection;

pub const NAME: &str = "resolution-worker";
pub const DEFAULT_OPS_ADDR: &str = "127.0.0.1:9102";

#[derive(Debug, Default)]
pub struct ResolutionJobHandler;

impl JobHandler for ResolutionJobHandler {
    type Job = ResolutionJob;
    const CONSUMER: &'static str = NAME;

    async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        job: &ResolutionJob,
    ) -> Result<(), JobError> {
        let run_id = ResolutionRunId::from(job.run_id);
        let run = ResolutionRun::start(conn, run_id).await?.ok_or_else(|| {
            JobError::Permanent(format!("resolution run {run_id} does not exist"))
        })?;
        tracing::info!(run_id = %run.id, status = %run.status, "resolution run taken up");
        Ok(())
    }
}
