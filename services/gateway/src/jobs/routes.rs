use actix_web::{web, HttpRequest, HttpResponse};
use concord_messages::JobSubmission;
use concord_models::database::connection;
use concord_models::documents::Document;
use concord_models::ids::JobRunId;
use concord_models::job_runs::{JobRun, JobSource};

use super::ingest::{store_ndjson, store_submission};
use super::view::{DocumentView, JobRunView};
use crate::auth::{Authorized, Read, Write};
use crate::error::ApiError;
use crate::extract::{media_type, parse_json, path_id, read_limited};
use crate::names::Name;
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/jobs")
            .route(web::post().to(create_job))
            .route(web::get().to(list_jobs)),
    )
    .route("/jobs/{id}", web::get().to(get_job))
    .route("/jobs/{id}/documents", web::get().to(list_documents));
}

/// The query of an NDJSON upload: the job's `name` (a JSON body carries its own).
#[derive(Debug, serde::Deserialize)]
struct NdjsonParams {
    name: Option<String>,
}

/// `POST /v1/jobs`: a JSON body `{name, documents}` (up to 10,000 documents) or an NDJSON stream
/// (`application/x-ndjson`, one document per line, `?name=`).
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    operation_id = "create_job",
    summary = "Submit a job run: a batch of documents",
    security(("api_key" = ["write"])),
    params(("name" = Option<String>, Query, description = "The job's name: required for an NDJSON upload (a JSON body carries its own).")),
    request_body(
        description = "A JSON batch of up to 10,000 documents, or NDJSON (one document per line, any number, streamed in bounded memory).",
        content(
            (crate::openapi::schemas::JobSubmissionSchema = "application/json"),
            (crate::openapi::schemas::SubmittedDocumentSchema = "application/x-ndjson", example = json!({"document_id": "inv-001", "filename": "inv-001.pdf", "values": {"vendor_name": "Acme GmbH", "total": "1.234,50 EUR"}})),
        ),
    ),
    responses(
        (status = 201, description = "The stored job run, completed (`Location` names it).", body = JobRunView, headers(("Location" = String, description = "The job run's URL."))),
    ),
)]
async fn create_job(
    auth: Authorized<Write>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<NdjsonParams>,
) -> Result<HttpResponse, ApiError> {
    let content_type = media_type(&req);
    let run = match content_type.as_str() {
        "application/json" => {
            let body = read_limited(payload, state.limits.max_json_body_bytes).await?;
            let submission: JobSubmission = parse_json(&body)?;
            store_submission(
                &state,
                auth.organization_id,
                submission,
                JobSource::Rest,
                None,
            )
            .await?
        }
        "application/x-ndjson" => {
            let name = query.name.as_deref().ok_or_else(|| {
                ApiError::validation(
                    "name",
                    "the `name` query parameter is required for an NDJSON upload",
                )
            })?;
            let name = Name::parse("name", name)?;
            store_ndjson(&state, auth.organization_id, name, payload).await?
        }
        other => {
            return Err(ApiError::UnsupportedMediaType {
                given: other.to_owned(),
                accepted: "application/json or application/x-ndjson",
            })
        }
    };
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/jobs/{}", run.id),
        ))
        .json(JobRunView::from(run)))
}

#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    operation_id = "get_job",
    summary = "A job run",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The job run's id.")),
    responses((status = 200, description = "The job run.", body = JobRunView)),
)]
async fn get_job(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<JobRunId>(&path)?;
    let mut conn = connection(&state.pool).await?;
    let run = JobRun::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job run", path.as_str()))?;
    Ok(HttpResponse::Ok().json(JobRunView::from(run)))
}

#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    operation_id = "list_jobs",
    summary = "Job runs, newest first",
    security(("api_key" = ["read"])),
    params(crate::openapi::PageQuery),
    responses((status = 200, description = "A page of job runs.", body = Page<JobRunView>)),
)]
async fn list_jobs(
    auth: Authorized<Read>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let before: Option<JobRunId> = page.after_as()?;
    let mut conn = connection(&state.pool).await?;
    let rows = JobRun::list(&mut conn, auth.organization_id, before, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |run| run.id.to_string(),
        JobRunView::from,
    )))
}

#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/documents",
    tag = "jobs",
    operation_id = "list_documents",
    summary = "A job run's documents, in batch order",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The job run's id."), crate::openapi::PageQuery),
    responses((status = 200, description = "A page of documents.", body = Page<DocumentView>)),
)]
async fn list_documents(
    auth: Authorized<Read>,
    path: web::Path<String>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<JobRunId>(&path)?;
    let after: Option<i32> = page.after_as()?;
    let mut conn = connection(&state.pool).await?;
    JobRun::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job run", path.as_str()))?;
    let rows = Document::list(&mut conn, id, after, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |document| document.position.to_string(),
        DocumentView::from,
    )))
}
