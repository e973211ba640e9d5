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

async fn get_dataset(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let dataset = find_dataset(&state, &auth, &path).await?;
    Ok(HttpResponse::Ok().json(DatasetView::from(dataset)))
}

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
