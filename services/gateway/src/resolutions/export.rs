//! `GET /v1/resolutions/{id}/results/export`: one CSV row per document — `document_id` and then
//! every policy field, in the policy's order — rendered in the run's dialect: its date format,
//! number locale, boolean pair and null text, separated by its delimiter and encoded in its
//! encoding. Streamed page by page, never held whole.

use crate::auth::{Authorized, Read};
use actix_web::{web, HttpResponse};
use bytes::{Bytes, BytesMut};
use concord_models::database::connection;
use concord_models::ids::ResolutionRunId;
use concord_models::resolution_results::{ResolutionResult, ResolutionResultFilter};
use concord_models::DbPool;
use std::sync::Arc;

use super::runs::find_run;
use super::view::Renderer;
use crate::codec::csv_writer::write_record_with;
use crate::error::ApiError;
use crate::state::AppState;

/// Result rows per page read.
const EXPORT_PAGE: i64 = 20_000;

/// The document being written: its id, position and rendered fields so far.
struct OpenDocument {
    position: i32,
    document_id: String,
    cells: Vec<Option<String>>,
}

struct ExportState {
    pool: DbPool,
    run_id: ResolutionRunId,
    renderer: Arc<Renderer>,
    after: Option<(i32, i16)>,
    open: Option<OpenDocument>,
    done: bool,
}

fn write_document(out: &mut BytesMut, renderer: &Renderer, document: &OpenDocument) {
    let null = renderer.settings.render(None);
    write_record_with(
        out,
        renderer.settings.delimiter(),
        std::iter::once(Some(document.document_id.as_str())).chain(
            document
                .cells
                .iter()
                .map(|cell| Some(cell.as_deref().unwrap_or(null.as_str()))),
        ),
    );
}

async fn next_page(mut state: ExportState) -> Result<Option<(Bytes, ExportState)>, ApiError> {
    if state.done {
        return Ok(None);
    }
    let mut conn = connection(&state.pool).await?;
    let rows = ResolutionResult::list(
        &mut conn,
        state.run_id,
        &ResolutionResultFilter::default(),
        state.after,
        EXPORT_PAGE,
    )
    .await?;
    drop(conn);
    let last_page = i64::try_from(rows.len()).is_ok_and(|n| n < EXPORT_PAGE);
    let width = state.renderer.fields.len();
    let mut out = BytesMut::with_capacity(rows.len() * 24);
    for row in rows {
        state.after = Some((row.document_position, row.field_position));
        let same = state
            .open
            .as_ref()
            .is_some_and(|open| open.position == row.document_position);
        if !same {
            if let Some(open) = state.open.take() {
                write_document(&mut out, &state.renderer, &open);
            }
            state.open = Some(OpenDocument {
                position: row.document_position,
                document_id: row.document_id.clone(),
                cells: vec![None; width],
            });
        }
        let position = state.renderer.position_of(&row.field_key);
        if let (Some(open), Some(position)) = (state.open.as_mut(), position) {
            if let Some(cell) = open.cells.get_mut(position) {
                *cell = Some(
                    state
                        .renderer
                        .render(&row.field_key, row.resolved_value.as_ref()),
                );
            }
        }
    }
    if last_page {
        if let Some(open) = state.open.take() {
            write_document(&mut out, &state.renderer, &open);
        }
        state.done = true;
    }
    let bytes = Bytes::from(
        state
            .renderer
            .settings
            .encode(&String::from_utf8_lossy(&out)),
    );
    Ok(Some((bytes, state)))
}

#[utoipa::path(
    get,
    path = "/v1/resolutions/{id}/results/export",
    tag = "resolutions",
    operation_id = "export_resolution_results",
    summary = "A run's results as CSV, in its dialect",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "One row per document, one column per policy field, rendered in the run's dialect (its delimiter, encoding, dates, numbers, booleans, null text).", content_type = "text/csv", body = String, headers(("Content-Disposition" = String))),
    ),
)]
pub async fn export_results(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let run = find_run(&state, &auth, &path).await?;
    let renderer = Arc::new(Renderer::of(&run)?);
    let mut header = BytesMut::new();
    write_record_with(
        &mut header,
        renderer.settings.delimiter(),
        std::iter::once(Some("document_id"))
            .chain(renderer.fields.iter().map(|(key, _)| Some(key.as_str()))),
    );
    let mut first = renderer.settings.bom().to_vec();
    first.extend(renderer.settings.encode(&String::from_utf8_lossy(&header)));
    let charset = match renderer.settings.encoding().as_str() {
        "utf-8-bom" => "utf-8",
        other => other,
    };
    let run_id = run.id;
    let pages = futures_util::stream::try_unfold(
        ExportState {
            pool: state.pool.clone(),
            run_id,
            renderer,
            after: None,
            open: None,
            done: false,
        },
        next_page,
    );
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, ApiError>(Bytes::from(first)) }),
        pages,
    );
    Ok(HttpResponse::Ok()
        .content_type(format!("text/csv; charset={charset}"))
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"resolution-{run_id}.csv\""),
        ))
        .streaming(body))
}
