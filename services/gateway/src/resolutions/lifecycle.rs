//! A resolution run's lifecycle as the API drives it — create (a `pending` run holding the
//! snapshots of its policy, the lookup-table versions it names and its dialect) and execute
//! (`running`, its chunk jobs queued) — each in the caller's transaction: the handlers parse,
//! open the transaction, wake the outbox relay after the commit and render.

use concord_messages::EventType;
use concord_models::data_policies::DataPolicy;
use concord_models::dialects::Dialect;
use concord_models::ids::{DataPolicyId, DialectId, JobRunId, OrganizationId, ResolutionRunId};
use concord_models::outbox::OutboxMessage;
use concord_models::resolution_runs::{
    DialectSnapshot, NewResolutionRun, PolicySnapshot, ResolutionRun, ResolutionRunStatus,
};
use concord_runs::chunks::{chunk_ranges, enqueue_resolution_chunks};
use concord_scoring::policy::PolicyDocument;
use concord_service::outbox::resolution_run_event;
use diesel_async::AsyncPgConnection;

use crate::error::{ApiError, ErrorCode};
use crate::lookup_tables;

/// What a new resolution run is asked for.
#[derive(Debug, Clone, Copy)]
pub struct NewResolution {
    pub organization_id: OrganizationId,
    pub job_id: JobRunId,
    pub policy_id: DataPolicyId,
    pub dialect_id: Option<DialectId>,
    pub chunk_size: i32,
}

/// Creates a `pending` run over a completed job run. Ids in the request that name nothing of
/// the organisation are 422s naming the field; a lookup table the policy names that was deleted
/// is a 409.
pub async fn create(
    conn: &mut AsyncPgConnection,
    request: NewResolution,
) -> Result<ResolutionRun, ApiError> {
    let NewResolution {
        organization_id,
        job_id,
        policy_id,
        dialect_id,
        chunk_size,
    } = request;
    // Ids in the body that name nothing of the organisation are 422s naming the field.
    let job =
        crate::jobs::completed_job_run(conn, organization_id, job_id, "source_run_id", "resolved")
            .await?;
    let policy = DataPolicy::find(conn, organization_id, policy_id)
        .await?
        .ok_or_else(|| {
            ApiError::validation("policy_id", format!("no data policy `{policy_id}`"))
        })?;
    let document = PolicyDocument {
        fields: policy.fields.0,
        rules: policy.rules.0,
    };
    let names = document.lookup_tables();
    let tables: Vec<_> = lookup_tables::find_names(conn, organization_id, &names)
        .await?
        .into_iter()
        .flatten()
        .collect();
    if let Some(missing) = names
        .iter()
        .find(|name| !tables.iter().any(|table| &table.name == *name))
    {
        return Err(ApiError::Conflict {
            code: ErrorCode::LookupTableMissing,
            message: format!(
                "the lookup table `{missing}` that data policy `{policy_id}` uses was deleted; create it again or change the policy"
            ),
        });
    }
    let dialect_snapshot = match dialect_id {
        None => None,
        Some(dialect_id) => {
            let dialect = Dialect::find(conn, organization_id, dialect_id)
                .await?
                .ok_or_else(|| {
                    ApiError::validation("dialect_id", format!("no dialect `{dialect_id}`"))
                })?;
            Some(DialectSnapshot {
                dialect_id: dialect.id,
                name: dialect.name,
                version: dialect.version,
                settings: dialect.settings.0,
            })
        }
    };
    let snapshot = PolicySnapshot {
        policy_id: policy.id,
        name: policy.name,
        version: policy.version,
        fields: document.fields,
        rules: document.rules,
        tables,
        chunk_size,
    };
    Ok(ResolutionRun::insert(
        conn,
        NewResolutionRun {
            id: ResolutionRunId::generate(),
            organization_id,
            source_run_id: job.id,
            status: ResolutionRunStatus::Pending,
            policy_snapshot: concord_models::Json(snapshot),
            dialect_snapshot: dialect_snapshot.map(concord_models::Json),
            documents_total: job.document_count,
            policy_id: Some(policy.id),
            dialect_id,
        },
    )
    .await?)
}

/// Starts a pending run (`running`, its chunk jobs queued; a run of no documents completes at
/// once): the run and `true`; a run that is not pending is answered as it is, with `false`.
pub async fn execute(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    id: ResolutionRunId,
) -> Result<(ResolutionRun, bool), ApiError> {
    let run = ResolutionRun::find(conn, organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("resolution run", id.to_string()))?;
    if run.status != ResolutionRunStatus::Pending {
        return Ok((run, false));
    }
    let chunk_size = run.policy_snapshot.0.chunk_size;
    let chunks = chunk_ranges(run.documents_total, chunk_size);
    let chunks_total = i32::try_from(chunks.len()).map_err(ApiError::internal)?;
    let Some(run) = ResolutionRun::execute(conn, organization_id, id, chunks_total).await? else {
        // Started by a concurrent execute: answer the run as it now is.
        let run = ResolutionRun::find(conn, organization_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("resolution run", id.to_string()))?;
        return Ok((run, false));
    };
    if chunks.is_empty() {
        // No documents: complete at once.
        let run = ResolutionRun::complete(conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("resolution run", id.to_string()))?;
        OutboxMessage::enqueue(
            conn,
            resolution_run_event(EventType::ResolutionCompleted, &run)?,
        )
        .await?;
        return Ok((run, true));
    }
    enqueue_resolution_chunks(conn, organization_id, id, &chunks).await?;
    Ok((run, true))
}
