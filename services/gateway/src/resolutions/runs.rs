//! Creating, executing, reading and listing resolution runs, and their results.

use actix_web::{web, HttpResponse};
use concord_messages::EventType;
use concord_models::data_policies::DataPolicy;
use concord_models::database::connection;
use concord_models::dialects::Dialect;
use concord_models::ids::{DataPolicyId, DialectId, JobRunId, ResolutionRunId};
use concord_models::outbox::OutboxMessage;
use concord_models::resolution_results::{
    ResolutionResult, ResolutionResultFilter, ResolutionStatus, ResolutionStep,
};
use concord_models::resolution_runs::{
    DialectSnapshot, NewResolutionRun, PolicySnapshot, ResolutionRun, ResolutionRunStatus,
};
use concord_scoring::policy::PolicyDocument;
use concord_service::outbox::resolution_run_event;
use diesel_async::AsyncConnection;
use serde::Deserialize;

use super::view::{Renderer, ResolutionResultView, ResolutionRunView};
use crate::auth::{Authorized, Read, Write};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{parse_json, path_id};
use crate::lookup_tables;
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;
use concord_runs::chunks::{chunk_ranges, enqueue_resolution_chunks};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/resolutions")
            .route(web::post().to(create_run))
            .route(web::get().to(list_runs)),
    )
    .route("/resolutions/{id}", web::get().to(get_run))
    .route("/resolutions/{id}/execute", web::post().to(execute_run))
    .route("/resolutions/{id}/results", web::get().to(list_results))
    .route(
        "/resolutions/{id}/results/export",
        web::get().to(super::export::export_results),
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    source_run_id: uuid::Uuid,
    policy_id: uuid::Uuid,
    #[serde(default)]
    dialect_id: Option<uuid::Uuid>,
}

/// The caller's run, or 404.
pub(super) async fn find_run(
    state: &AppState,
    auth: &Authorized<Read>,
    raw_id: &str,
) -> Result<ResolutionRun, ApiError> {
    let id = path_id::<ResolutionRunId>(raw_id)?;
    let mut conn = connection(&state.pool).await?;
    ResolutionRun::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("resolution run", id.to_string()))
}

/// `POST /v1/resolutions` `{source_run_id, policy_id, dialect_id?}`: a `pending` run holding
/// snapshots of the policy (with the versions of the lookup tables it names) and the dialect.
/// 404 unless the job run exists, is the caller's and is completed; 404 for an unknown policy
/// or dialect.
async fn create_run(
    auth: Authorized<Write>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateBody = parse_json(&body)?;
    let organization_id = auth.organization_id;
    let job_id = JobRunId::from(body.source_run_id);
    let policy_id = DataPolicyId::from(body.policy_id);
    let dialect_id = body.dialect_id.map(DialectId::from);
    let chunk_size =
        i32::try_from(state.limits.resolution_chunk_size).map_err(ApiError::internal)?;
    let mut conn = connection(&state.pool).await?;
    let run = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            // Ids in the body that name nothing of the organisation are 422s naming the field.
            let job = crate::jobs::completed_job_run(
                conn,
                organization_id,
                job_id,
                "source_run_id",
                "resolved",
            )
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
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/resolutions/{}", run.id),
        ))
        .json(ResolutionRunView::from(run)))
}

/// `POST /v1/resolutions/{id}/execute`: a pending run becomes `running` and its chunk jobs are
/// queued (202); on a run that is not pending nothing changes and the run is answered as it is
/// (200).
async fn execute_run(
    auth: Authorized<Write>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<ResolutionRunId>(&path)?;
    let organization_id = auth.organization_id;
    let mut conn = connection(&state.pool).await?;
    let (run, started) = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            let run = ResolutionRun::find(conn, organization_id, id)
                .await?
                .ok_or_else(|| ApiError::not_found("resolution run", id.to_string()))?;
            if run.status != ResolutionRunStatus::Pending {
                return Ok((run, false));
            }
            let chunk_size = run.policy_snapshot.0.chunk_size;
            let chunks = chunk_ranges(run.documents_total, chunk_size);
            let chunks_total = i32::try_from(chunks.len()).map_err(ApiError::internal)?;
            let Some(run) = ResolutionRun::execute(conn, organization_id, id, chunks_total).await?
            else {
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
        })
        .await?;
    if started {
        state.outbox_waker.notify_one();
        Ok(HttpResponse::Accepted().json(ResolutionRunView::from(run)))
    } else {
        Ok(HttpResponse::Ok().json(ResolutionRunView::from(run)))
    }
}

async fn get_run(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let run = find_run(&state, &auth, &path).await?;
    Ok(HttpResponse::Ok().json(ResolutionRunView::from(run)))
}

async fn list_runs(
    auth: Authorized<Read>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let before: Option<ResolutionRunId> = page.after_as()?;
    let mut conn = connection(&state.pool).await?;
    let rows =
        ResolutionRun::list(&mut conn, auth.organization_id, before, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |run| run.id.to_string(),
        ResolutionRunView::from,
    )))
}

/// The filters of a run's results list.
#[derive(Debug, Deserialize)]
struct ResultParams {
    document_id: Option<String>,
    field: Option<String>,
    step: Option<String>,
    status: Option<String>,
}

fn result_filter(query: ResultParams) -> Result<ResolutionResultFilter, ApiError> {
    let step = query
        .step
        .as_deref()
        .map(|raw| {
            raw.parse::<ResolutionStep>()
                .map_err(|message| ApiError::validation("step", message))
        })
        .transpose()?;
    let status = query
        .status
        .as_deref()
        .map(|raw| {
            raw.parse::<ResolutionStatus>()
                .map_err(|message| ApiError::validation("status", message))
        })
        .transpose()?;
    Ok(ResolutionResultFilter {
        document_id: query.document_id,
        field_key: query.field,
        step,
        status,
    })
}

/// A results cursor: `document_position.field_position`.
fn parse_cursor(text: &str) -> Option<(i32, i16)> {
    let (document, field) = text.split_once('.')?;
    Some((document.parse().ok()?, field.parse().ok()?))
}

/// `GET /v1/resolutions/{id}/results`: in document and field order; filtered by `document_id`,
/// `field`, `step` and `status`.
async fn list_results(
    auth: Authorized<Read>,
    path: web::Path<String>,
    page: PageRequest,
    query: web::Query<ResultParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let run = find_run(&state, &auth, &path).await?;
    let after = match page.after.as_deref() {
        None => None,
        Some(text) => Some(parse_cursor(text).ok_or_else(|| {
            ApiError::validation("cursor", "cursor does not belong to this list")
        })?),
    };
    let filter = result_filter(query.into_inner())?;
    let renderer = Renderer::of(&run)?;
    let mut conn = connection(&state.pool).await?;
    let rows =
        ResolutionResult::list(&mut conn, run.id, &filter, after, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |row| format!("{}.{}", row.document_position, row.field_position),
        |row| ResolutionResultView::new(row, &renderer),
    )))
}
