//! Job runs: batches of documents submitted by REST (JSON or streamed NDJSON) or through the
//! intake queue, validated the same way, stored in one transaction with their `job.completed`
//! event.

pub mod domain;
pub mod ingest;
pub mod routes;
pub mod view;

use concord_models::ids::{JobRunId, OrganizationId};
use concord_models::job_runs::{JobRun, JobRunStatus};
use diesel_async::AsyncPgConnection;

use crate::error::{ApiError, ErrorCode};

/// The organisation's completed job run `job_id`, which a matching or resolution run is to read
/// (`to`: "matched", "resolved"). An id naming nothing of the organisation is a 422 naming the
/// body's `field`; a job run still ingesting (or failed) is a 409 `job_not_completed`.
pub async fn completed_job_run(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    job_id: JobRunId,
    field: &str,
    to: &str,
) -> Result<JobRun, ApiError> {
    let job = JobRun::find(conn, organization_id, job_id)
        .await?
        .ok_or_else(|| ApiError::validation(field, format!("no job run `{job_id}`")))?;
    if job.status != JobRunStatus::Completed {
        return Err(ApiError::Conflict {
            code: ErrorCode::JobNotCompleted,
            message: format!(
                "job run `{job_id}` is {}; only a completed job run can be {to}",
                job.status
            ),
        });
    }
    Ok(job)
}
