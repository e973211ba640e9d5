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

/// A resolution run to create: the job run to resolve, the policy, the dialect (default: ISO dates, `.` decimals, `,`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResolutionRunRequest)]
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
#[utoipa::path(
    post,
    path = "/v1/resolutions",
    tag = "resolutions",
    operation_id = "create_resolution",
    summary = "Create a resolution run",
    security(("api_key" = ["write"])),
    request_body(content = CreateBody, description = "A `pending` run with snapshots of the policy (and the lookup-table versions it names) and of the dialect. Ids naming nothing of the organisation are a 422 naming the field."),
    responses(
        (status = 201, description = "The run, `pending`: `POST …/execute` starts it.", body = ResolutionRunView, headers(("Location" = String))),
        (status = 409, description = "`job_not_completed`: the job run is still ingesting; `lookup_table_missing`: a table the policy names was deleted.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
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
#[utoipa::path(
    post,
    path = "/v1/resolutions/{id}/execute",
    tag = "resolutions",
    operation_id = "execute_resolution",
    summary = "Start a pending resolution run",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The run's id.")),
    responses(
        (status = 202, description = "The run, `running`: resolved in chunks by the workers.", body = ResolutionRunView),
        (status = 200, description = "The run was not pending: nothing changed.", body = ResolutionRunView),
    ),
)]
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

#[utoipa::path(
    get,
    path = "/v1/resolutions/{id}",
    tag = "resolutions",
    operation_id = "get_resolution",
    summary = "A resolution run",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "The run with its counters.", body = ResolutionRunView),
    ),
)]
async fn get_run(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let run = find_run(&state, &auth, &path).await?;
    Ok(HttpResponse::Ok().json(ResolutionRunView::from(run)))
}

#[utoipa::path(
    get,
    path = "/v1/resolutions",
    tag = "resolutions",
    operation_id = "list_resolutions",
    summary = "Resolution runs, newest first",
    security(("api_key" = ["read"])),
    params(crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of runs.", body = Page<ResolutionRunView>),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/v1/resolutions/{id}/results",
    tag = "resolutions",
    operation_id = "list_resolution_results",
    summary = "A run's results, one per document and field",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The run's id."), ("document_id" = Option<String>, Query, description = "Only this document's results."), ("field" = Option<String>, Query, description = "Only this field's results."), ("step" = Option<crate::openapi::schemas::ResolutionStepSchema>, Query, description = "Only values resolved by this step."), ("status" = Option<crate::openapi::schemas::ResolutionStatusSchema>, Query, description = "Only results with this status."), crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of results.", body = Page<ResolutionResultView>),
    ),
)]
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
