use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use concord_models::database::connection;
use concord_models::ids::ReferenceDatasetId;
use concord_models::reference_datasets::{ReferenceDataset, ReferenceRow};

use super::export::csv_stream;
use super::upload::{store_csv, store_json, store_multipart, UploadParams};
use super::view::{dataset_path, DatasetView, RowView};
use crate::auth::{Authenticated, Authorized, Read, Write};
use crate::error::ApiError;
use crate::extract::{content_type, media_type, path_id, read_limited};
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

const RESOURCE: &str = "reference dataset";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/reference-data")
            .route(web::post().to(create_dataset))
            .route(web::get().to(list_datasets)),
    )
    .service(
        web::resource("/reference-data/{id}")
            .route(web::get().to(get_dataset))
            .route(web::delete().to(delete_dataset)),
    )
    .route("/reference-data/{id}/rows", web::get().to(list_rows))
    .route("/reference-data/{id}/export", web::get().to(export_dataset));
}

/// `POST /v1/reference-data`: a JSON body `{name, id_column?, rows}`, a CSV body (`text/csv`,
/// `?name=&id_column=`) or a multipart form with a `file` part.
#[utoipa::path(
    post,
    path = "/v1/reference-data",
    tag = "reference data",
    operation_id = "create_dataset",
    summary = "Upload a reference dataset",
    security(("api_key" = ["write"])),
    params(("name" = Option<String>, Query, description = "The dataset's name (CSV and multipart; a JSON body carries its own)."), ("id_column" = Option<String>, Query, description = "The column whose values are the row ids (CSV and multipart; absent: generated)."), crate::openapi::CsvFormatQuery),
    request_body(description = "JSON rows, or a CSV (`text/csv`, streamed: millions of rows in flat memory), or a multipart form whose `file` part is the CSV (and optional `name`, `id_column` parts). A bad line is a 422 naming it, and nothing is stored.", content((crate::reference_data::upload::JsonUpload = "application/json"), (String = "text/csv", example = json!("invoice_id,vendor,amount\nL-1,Acme GmbH,1234.50\n")), ("multipart/form-data"))),
    responses(
        (status = 201, description = "The stored dataset with its inferred column types (`Location` names it).", body = DatasetView, headers(("Location" = String, description = "The dataset's URL."))),
    ),
)]
async fn create_dataset(
    auth: Authorized<Write>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<UploadParams>,
) -> Result<HttpResponse, ApiError> {
    let content_type = content_type(&req);
    let media_type = media_type(&req);
    let span = tracing::info_span!(
        "reference_data.ingest",
        format = %media_type,
        organization_id = %auth.organization_id,
    );
    let dataset = tracing::Instrument::instrument(
        async {
            match media_type.as_str() {
                "application/json" => {
                    let body = read_limited(payload, state.limits.max_json_body_bytes).await?;
                    store_json(&state, auth.organization_id, &body).await
                }
                "text/csv" => store_csv(&state, auth.organization_id, &query, payload).await,
                "multipart/form-data" => {
                    store_multipart(&state, auth.organization_id, content_type, &query, payload)
                        .await
                }
                other => Err(ApiError::UnsupportedMediaType {
                    given: other.to_owned(),
                    accepted: "application/json, text/csv or multipart/form-data",
                }),
            }
        },
        span,
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, dataset_path(dataset.id)))
        .json(DatasetView::from(dataset)))
}

/// The organisation's dataset, or 404 (for another organisation's too).
async fn find_dataset(
    state: &AppState,
    auth: &Authenticated,
    raw_id: &str,
) -> Result<ReferenceDataset, ApiError> {
    let id = path_id::<ReferenceDatasetId>(raw_id)?;
    let mut conn = connection(&state.pool).await?;
    ReferenceDataset::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(RESOURCE, raw_id))
}

#[utoipa::path(
    get,
    path = "/v1/reference-data/{id}",
    tag = "reference data",
    operation_id = "get_dataset",
    summary = "A reference dataset",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The dataset's id.")),
    responses(
        (status = 200, description = "The dataset.", body = DatasetView),
    ),
)]
async fn get_dataset(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let dataset = find_dataset(&state, &auth, &path).await?;
    Ok(HttpResponse::Ok().json(DatasetView::from(dataset)))
}

#[utoipa::path(
    get,
    path = "/v1/reference-data",
    tag = "reference data",
    operation_id = "list_datasets",
    summary = "Reference datasets, newest first",
    security(("api_key" = ["read"])),
    params(crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of datasets.", body = Page<DatasetView>),
    ),
)]
async fn list_datasets(
    auth: Authorized<Read>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let before: Option<ReferenceDatasetId> = page.after_as()?;
    let mut conn = connection(&state.pool).await?;
    let rows =
        ReferenceDataset::list(&mut conn, auth.organization_id, before, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |dataset| dataset.id.to_string(),
        DatasetView::from,
    )))
}

#[utoipa::path(
    get,
    path = "/v1/reference-data/{id}/rows",
    tag = "reference data",
    operation_id = "list_rows",
    summary = "A dataset's rows, in upload order",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The dataset's id."), crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of rows.", body = Page<RowView>),
    ),
)]
async fn list_rows(
    auth: Authorized<Read>,
    path: web::Path<String>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let after: Option<i32> = page.after_as()?;
    let dataset = find_dataset(&state, &auth, &path).await?;
    let columns: Arc<[String]> = dataset.columns().iter().map(|c| c.name.clone()).collect();
    let mut conn = connection(&state.pool).await?;
    let rows = ReferenceRow::list(&mut conn, dataset.id, after, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |row| row.position.to_string(),
        |row| RowView::new(Arc::clone(&columns), row),
    )))
}

#[utoipa::path(
    get,
    path = "/v1/reference-data/{id}/export",
    tag = "reference data",
    operation_id = "export_dataset",
    summary = "A dataset as CSV",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The dataset's id.")),
    responses(
        (status = 200, description = "The dataset as CSV (UTF-8, a header line, streamed).", content_type = "text/csv", body = String, headers(("Content-Disposition" = String))),
    ),
)]
async fn export_dataset(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let dataset = find_dataset(&state, &auth, &path).await?;
    let filename: String = dataset
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}.csv\""),
        ))
        .streaming(csv_stream(state.pool.clone(), &dataset)))
}

#[utoipa::path(
    delete,
    path = "/v1/reference-data/{id}",
    tag = "reference data",
    operation_id = "delete_dataset",
    summary = "Delete a reference dataset",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The dataset's id.")),
    responses(
        (status = 204, description = "Deleted; configs using it stay, their next run answers 409 `reference_data_deleted`."),
    ),
)]
async fn delete_dataset(
    auth: Authorized<Write>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<ReferenceDatasetId>(&path)?;
    let mut conn = connection(&state.pool).await?;
    if !ReferenceDataset::delete(&mut conn, auth.organization_id, id).await? {
        return Err(ApiError::not_found(RESOURCE, path.as_str()));
    }
    tracing::info!(dataset_id = %id, "reference dataset deleted");
    Ok(HttpResponse::NoContent().finish())
}
