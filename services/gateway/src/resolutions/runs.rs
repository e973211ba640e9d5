//! Creating, executing, reading and listing resolution runs, and their results.

use actix_web::{web, HttpResponse};
use concord_models::database::connection;
use concord_models::ids::{DataPolicyId, DialectId, JobRunId, ResolutionRunId};
use concord_models::resolution_results::{
    ResolutionResult, ResolutionResultFilter, ResolutionStatus, ResolutionStep,
};
use concord_models::resolution_runs::ResolutionRun;
use diesel_async::AsyncConnection;
use serde::Deserialize;

use super::lifecycle;
use super::view::{Renderer, ResolutionResultView, ResolutionRunView};
use crate::auth::{Authorized, Read, Write};
use crate::error::ApiError;
use crate::extract::{parse_json, path_id};
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

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
    let request = lifecycle::NewResolution {
        organization_id,
        job_id,
        policy_id,
        dialect_id,
        chunk_size,
    };
    let run = conn
        .transaction::<_, ApiError, _>(async move |conn| lifecycle::create(conn, request).await)
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
            lifecycle::execute(conn, organization_id, id).await
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
