//! Matching runs: started from a config over the documents of a completed job run, matched in
//! chunks by the matching workers; progress, results, reviews, cancel and a CSV export. A smart
//! run goes on to the AI pass (`ai_resolving`) once scored, and `/ai-resolve` sends a completed
//! run there again; the ai-resolver completes it.

use actix_web::{web, HttpResponse};
use bytes::BytesMut;
use concord_models::database::connection;
use concord_models::ids::{JobRunId, MatchResultId, MatchingConfigId, MatchingRunId};
use concord_models::match_results::{MatchResult, ResultFilter, ReviewStatus};
use concord_models::matching_runs::{MatchingMode, MatchingRun, MatchingRunStatus};
use concord_models::DbPool;
use concord_scoring::matcher::{MatchSettings, TOP_CANDIDATES};
use diesel_async::AsyncConnection;
use serde::Deserialize;

use super::lifecycle;
use super::review::{self, ReviewRequest};
use super::view::{MatchResultView, MatchingRunView, RunProgressView};
use crate::auth::{Authenticated, Authorized, Read, Write};
use crate::codec::csv_writer::write_record;
use crate::error::ApiError;
use crate::extract::{param, parse_json, path_id};
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/matching/configs/{id}/run", web::post().to(start_run))
        .route(
            "/matching/configs/{id}/smart-run",
            web::post().to(start_smart_run),
        )
        .route("/matching/runs", web::get().to(list_runs))
        .route("/matching/runs/{id}", web::get().to(get_run))
        .route("/matching/runs/{id}/progress", web::get().to(get_progress))
        .route("/matching/runs/{id}/cancel", web::post().to(cancel_run))
        .route("/matching/runs/{id}/ai-resolve", web::post().to(ai_resolve))
        .route("/matching/runs/{id}/results", web::get().to(list_results))
        .route(
            "/matching/runs/{id}/results/export",
            web::get().to(export_results),
        )
        .route(
            "/matching/runs/{id}/results/{result_id}/review",
            web::post().to(review_result),
        );
}

/// A run over a completed job run.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MatchingRunRequest, example = json!({"job_id": "0192f5e4-8f7a-7c3e-9a55-2b1f0c3d4e5f", "mode": "manual"}))]
struct RunBody {
    job_id: uuid::Uuid,
    /// Default `manual`.
    #[serde(default)]
    #[schema(value_type = Option<crate::openapi::schemas::MatchingModeSchema>)]
    mode: Option<MatchingMode>,
    /// How many of the best candidates each result keeps (what an AI pass is offered):
    /// 1 to 20, default 5.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 20)]
    candidates: Option<u32>,
}

/// A smart run over a completed job run.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SmartRunRequest)]
struct SmartRunBody {
    job_id: uuid::Uuid,
    /// The best rows each result keeps, 1–20 (default 5).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 20)]
    candidates: Option<u32>,
}

/// Results shown inline with a completed run.
const TOP_RESULTS: i64 = 50;

async fn find_run(
    state: &AppState,
    auth: &Authenticated,
    raw_id: &str,
) -> Result<MatchingRun, ApiError> {
    let id = path_id::<MatchingRunId>(raw_id)?;
    let mut conn = connection(&state.pool).await?;
    MatchingRun::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("matching run", raw_id))
}

/// `POST /v1/matching/configs/{id}/run` `{job_id, mode?: manual | smart}`: creates the run with
/// a snapshot of its config and one job per chunk in the outbox, in one transaction, and answers
/// at once with `queued`.
#[utoipa::path(
    post,
    path = "/v1/matching/configs/{id}/run",
    tag = "matching",
    operation_id = "start_run",
    summary = "Start a matching run",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The config's id.")),
    request_body(content = RunBody),
    responses(
        (status = 202, description = "The run, `queued`: matched in chunks by the workers; poll `/progress`.", body = MatchingRunView, headers(("Location" = String))),
        (status = 409, description = "`job_not_completed`: the job run is still ingesting; `reference_data_deleted`: the config's dataset was deleted; `lookup_table_missing`.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn start_run(
    auth: Authorized<Write>,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config_id = path_id::<MatchingConfigId>(&path)?;
    let body: RunBody = parse_json(&body)?;
    let mode = body.mode.unwrap_or(MatchingMode::Manual);
    let candidates = candidate_count(body.candidates)?;
    create_run(
        &state,
        &auth,
        config_id,
        JobRunId::from(body.job_id),
        mode,
        candidates,
    )
    .await
}

/// `POST /v1/matching/configs/{id}/smart-run` `{job_id}`: a run in `smart` mode — once scored,
/// the AI pass looks at the results in the review band before the run completes.
#[utoipa::path(
    post,
    path = "/v1/matching/configs/{id}/smart-run",
    tag = "matching",
    operation_id = "start_smart_run",
    summary = "Start a smart run (then the AI pass over its review band)",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The config's id.")),
    request_body(content = SmartRunBody),
    responses(
        (status = 202, description = "The run, `queued`: matched in chunks by the workers; poll `/progress`.", body = MatchingRunView, headers(("Location" = String))),
        (status = 409, description = "`job_not_completed`: the job run is still ingesting; `reference_data_deleted`: the config's dataset was deleted; `lookup_table_missing`.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn start_smart_run(
    auth: Authorized<Write>,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config_id = path_id::<MatchingConfigId>(&path)?;
    let body: SmartRunBody = parse_json(&body)?;
    let candidates = candidate_count(body.candidates)?;
    create_run(
        &state,
        &auth,
        config_id,
        JobRunId::from(body.job_id),
        MatchingMode::Smart,
        candidates,
    )
    .await
}

/// The `candidates` of a run body, checked by the scoring core (1 to 20; default 5).
fn candidate_count(given: Option<u32>) -> Result<i32, ApiError> {
    let k = match given {
        None => TOP_CANDIDATES,
        Some(k) => usize::try_from(k).map_err(ApiError::internal)?,
    };
    MatchSettings::default()
        .with_candidates(k)
        .map_err(|e| ApiError::validation(e.path, e.message))?;
    // Validated above: a handful of candidates.
    i32::try_from(k).map_err(ApiError::internal)
}

async fn create_run(
    state: &AppState,
    auth: &Authenticated,
    config_id: MatchingConfigId,
    job_id: JobRunId,
    mode: MatchingMode,
    candidates: i32,
) -> Result<HttpResponse, ApiError> {
    let chunk_size = i32::try_from(state.limits.matching_chunk_size).map_err(ApiError::internal)?;
    let request = lifecycle::NewRun {
        organization_id: auth.organization_id,
        config_id,
        job_id,
        mode,
        candidates,
        chunk_size,
    };
    let mut conn = connection(&state.pool).await?;
    let run = conn
        .transaction::<_, ApiError, _>(async move |conn| lifecycle::create(conn, request).await)
        .await?;
    state.outbox_waker.notify_one();
    Ok(accepted(run))
}

#[utoipa::path(
    get,
    path = "/v1/matching/runs/{id}",
    tag = "matching",
    operation_id = "get_matching_run",
    summary = "A matching run",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "The run: counters, and the top 50 results once completed.", body = MatchingRunView),
    ),
)]
async fn get_run(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // A completed run's detail (its top results with their evidence: about 100 KB) is rendered
    // once per version of the run and served from the cache after that; a review of one of its
    // results changes the run's `updated_at`, so the next read renders it again. A read of a
    // cached version costs one small query (status and version: not the run's config snapshot
    // and trained model).
    let id = path_id::<MatchingRunId>(&path)?;
    let version = {
        let mut conn = connection(&state.pool).await?;
        MatchingRun::version(&mut conn, auth.organization_id, id).await?
    };
    let Some((status, updated_at)) = version else {
        return Err(ApiError::not_found("matching run", path.as_str()));
    };
    if status == MatchingRunStatus::Completed {
        if let Some(body) = state.run_details.peek(&(id, updated_at)) {
            return Ok(detail_response(&body));
        }
    }
    let run = find_run(&state, &auth, &path).await?;
    if run.status != MatchingRunStatus::Completed {
        return Ok(HttpResponse::Ok().json(MatchingRunView::new(run, None)));
    }
    let pool = state.pool.clone();
    let body = state
        .run_details
        .get_or_try_init((run.id, run.updated_at), || async move {
            let mut conn = connection(&pool).await?;
            let top = MatchResult::top(&mut conn, run.id, TOP_RESULTS)
                .await?
                .into_iter()
                .map(MatchResultView::from)
                .collect();
            serde_json::to_vec(&MatchingRunView::new(run, Some(top)))
                .map(web::Bytes::from)
                .map_err(ApiError::internal)
        })
        .await?;
    Ok(detail_response(&body))
}

fn detail_response(body: &web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(web::Bytes::clone(body))
}

#[utoipa::path(
    get,
    path = "/v1/matching/runs/{id}/progress",
    tag = "matching",
    operation_id = "get_matching_progress",
    summary = "A run's progress",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "Phase, processed/total, rate and ETA.", body = RunProgressView),
    ),
)]
async fn get_progress(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let run = find_run(&state, &auth, &path).await?;
    Ok(HttpResponse::Ok().json(RunProgressView::new(&run, chrono::Utc::now())))
}

#[utoipa::path(
    get,
    path = "/v1/matching/runs",
    tag = "matching",
    operation_id = "list_matching_runs",
    summary = "Matching runs, newest first",
    security(("api_key" = ["read"])),
    params(("config_id" = Option<uuid::Uuid>, Query, description = "Only the runs of this config."), crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of runs.", body = Page<MatchingRunView>),
    ),
)]
async fn list_runs(
    auth: Authorized<Read>,
    page: PageRequest,
    query: web::Query<RunListParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let before: Option<MatchingRunId> = page.after_as()?;
    let config_id =
        param::<MatchingConfigId>("config_id", query.config_id.as_deref(), "a config id")?;
    let mut conn = connection(&state.pool).await?;
    let rows = MatchingRun::list(
        &mut conn,
        auth.organization_id,
        config_id,
        before,
        page.fetch_limit(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |run| run.id.to_string(),
        |run| MatchingRunView::new(run, None),
    )))
}

/// `POST /v1/matching/runs/{id}/cancel`: the workers stop at their next chunk; the results so
/// far stay readable. 409 once the run has ended.
#[utoipa::path(
    post,
    path = "/v1/matching/runs/{id}/cancel",
    tag = "matching",
    operation_id = "cancel_matching_run",
    summary = "Cancel a run",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "The run, `cancelled`: the workers stop at the next chunk; results so far stay.", body = MatchingRunView),
        (status = 409, description = "`run_ended`: the run has ended already.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn cancel_run(
    auth: Authorized<Write>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<MatchingRunId>(&path)?;
    let organization_id = auth.organization_id;
    let mut conn = connection(&state.pool).await?;
    let run = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            lifecycle::cancel(conn, organization_id, id).await
        })
        .await?;
    state.outbox_waker.notify_one();
    Ok(HttpResponse::Ok().json(MatchingRunView::new(run, None)))
}

/// The results to send to the AI pass.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AiResolveRequest)]
struct AiResolveBody {
    /// The results to look at; the whole review band when absent.
    #[serde(default)]
    result_ids: Option<Vec<String>>,
}

/// Results one `/ai-resolve` may name.
const MAX_AI_RESULT_IDS: usize = 10_000;

/// `POST /v1/matching/runs/{id}/ai-resolve` `{result_ids?}`: sends a completed run (manual or
/// smart) to the AI pass — `ai_resolving` and a task for the ai-resolver, in one transaction —
/// over the given results, or over every result in the review band (ambiguous, or unmatched
/// with candidates) that no reviewer decided. 202 with the run; the ai-resolver completes it.
#[utoipa::path(
    post,
    path = "/v1/matching/runs/{id}/ai-resolve",
    tag = "matching",
    operation_id = "ai_resolve",
    summary = "Send a completed run to the AI pass",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The run's id.")),
    request_body(content = AiResolveBody, description = "The results to look at (up to 10,000, each of the run); an empty body: the run's whole review band."),
    responses(
        (status = 202, description = "The run, `ai_resolving`; the ai-resolver completes it.", body = MatchingRunView),
        (status = 409, description = "`run_not_completed`: only a completed run goes to the AI pass.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn ai_resolve(
    auth: Authorized<Write>,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<MatchingRunId>(&path)?;
    let body: AiResolveBody = if body.iter().all(u8::is_ascii_whitespace) {
        AiResolveBody::default()
    } else {
        parse_json(&body)?
    };
    let result_ids = body.result_ids.map(parse_result_ids).transpose()?;
    let organization_id = auth.organization_id;
    let mut conn = connection(&state.pool).await?;
    let run = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            lifecycle::send_to_ai(conn, organization_id, id, result_ids).await
        })
        .await?;
    state.outbox_waker.notify_one();
    Ok(accepted(run))
}

/// 202 with the run and where to follow it.
fn accepted(run: MatchingRun) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/matching/runs/{}", run.id),
        ))
        .json(MatchingRunView::new(run, None))
}

/// The given result ids, parsed, in the order given; 422 naming the first one that is not an id.
fn parse_result_ids(raw: Vec<String>) -> Result<Vec<MatchResultId>, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::validation(
            "result_ids",
            "name at least one result, or leave `result_ids` out for the whole review band",
        ));
    }
    if raw.len() > MAX_AI_RESULT_IDS {
        return Err(ApiError::validation(
            "result_ids",
            format!("at most {MAX_AI_RESULT_IDS} results at a time"),
        ));
    }
    raw.iter()
        .enumerate()
        .map(|(index, value)| {
            value.parse().map_err(|_| {
                ApiError::validation(
                    format!("result_ids[{index}]"),
                    format!("`{value}` is not a result id"),
                )
            })
        })
        .collect()
}

/// The filter of the runs list.
#[derive(Debug, Deserialize)]
struct RunListParams {
    config_id: Option<String>,
}

/// The filters of a run's results list.
#[derive(Debug, Deserialize)]
struct ResultParams {
    status: Option<String>,
    matched: Option<String>,
    min_confidence: Option<String>,
    max_confidence: Option<String>,
}

fn result_filter(query: &ResultParams) -> Result<ResultFilter, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|raw| {
            raw.parse::<ReviewStatus>()
                .map_err(|message| ApiError::validation("status", message))
        })
        .transpose()?;
    let matched = param::<bool>("matched", query.matched.as_deref(), "`true` or `false`")?;
    let min_confidence = param::<f64>(
        "min_confidence",
        query.min_confidence.as_deref(),
        "a number",
    )?;
    let max_confidence = param::<f64>(
        "max_confidence",
        query.max_confidence.as_deref(),
        "a number",
    )?;
    for (name, value) in [
        ("min_confidence", min_confidence),
        ("max_confidence", max_confidence),
    ] {
        if let Some(value) = value {
            if !(0.0..=1.0).contains(&value) {
                return Err(ApiError::validation(name, "must be between 0 and 1"));
            }
        }
    }
    Ok(ResultFilter {
        status,
        matched,
        min_confidence,
        max_confidence,
    })
}

/// `GET /v1/matching/runs/{id}/results`: in document order, filtered by `status`, `matched`,
/// `min_confidence`, `max_confidence`.
#[utoipa::path(
    get,
    path = "/v1/matching/runs/{id}/results",
    tag = "matching",
    operation_id = "list_match_results",
    summary = "A run's results, one per document",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The run's id."), ("status" = Option<crate::openapi::schemas::ReviewStatusSchema>, Query, description = "Only results with this review status."), ("matched" = Option<bool>, Query, description = "Only matched (`true`) or unmatched (`false`) results."), ("min_confidence" = Option<f64>, Query, minimum = 0, maximum = 1), ("max_confidence" = Option<f64>, Query, minimum = 0, maximum = 1), crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of results, in document order.", body = Page<MatchResultView>),
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
    let after: Option<i32> = page.after_as()?;
    let filter = result_filter(&query)?;
    let mut conn = connection(&state.pool).await?;
    let rows = MatchResult::list(&mut conn, run.id, &filter, after, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |result| result.document_position.to_string(),
        MatchResultView::from,
    )))
}

/// `POST /v1/matching/runs/{id}/results/{result_id}/review` `{status, notes?,
/// matched_reference_row_id?}`: the decision is taken by [`review::decide`].
#[utoipa::path(
    post,
    path = "/v1/matching/runs/{id}/results/{result_id}/review",
    tag = "matching",
    operation_id = "review_result",
    summary = "A reviewer's decision on a result",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The run's id."), ("result_id" = uuid::Uuid, Path, description = "The result's id.")),
    request_body(content = ReviewRequest),
    responses(
        (status = 200, description = "The reviewed result (a later review overwrites).", body = MatchResultView),
    ),
)]
async fn review_result(
    auth: Authorized<Write>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (raw_run, raw_result) = path.into_inner();
    let run = find_run(&state, &auth, &raw_run).await?;
    let result_id: MatchResultId = path_id(&raw_result)?;
    let request: ReviewRequest = parse_json(&body)?;
    let mut conn = connection(&state.pool).await?;
    let reviewed = review::decide(&mut conn, &run, result_id, request).await?;
    Ok(HttpResponse::Ok().json(MatchResultView::from(reviewed)))
}

/// Rows per database page while exporting.
const EXPORT_PAGE: i64 = 2_000;

/// `GET /v1/matching/runs/{id}/results/export`: every result as CSV, streamed page by page; the
/// AI pass's suggested row and flag last (empty when it did not look at the result).
#[utoipa::path(
    get,
    path = "/v1/matching/runs/{id}/results/export",
    tag = "matching",
    operation_id = "export_match_results",
    summary = "A run's results as CSV",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "One row per document: `document_id, document_filename, matched_reference_row_id, confidence, status, ambiguous, resolved_by, candidates, match_weight, evidence, review_notes, ai_suggested_row_id, ai_flag`.", content_type = "text/csv", body = String, headers(("Content-Disposition" = String))),
    ),
)]
async fn export_results(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let run = find_run(&state, &auth, &path).await?;
    let header = bytes::Bytes::from_static(
        b"document_id,document_filename,matched_reference_row_id,confidence,status,ambiguous,resolved_by,candidates,match_weight,evidence,review_notes,ai_suggested_row_id,ai_flag\r\n",
    );
    let pool: DbPool = state.pool.clone();
    let run_id = run.id;
    let pages = futures_util::stream::try_unfold(Some(-1), move |after| {
        let pool = pool.clone();
        async move {
            let Some(after) = after else {
                return Ok::<_, ApiError>(None);
            };
            let mut conn = connection(&pool).await?;
            let rows = MatchResult::list(
                &mut conn,
                run_id,
                &ResultFilter::default(),
                Some(after),
                EXPORT_PAGE,
            )
            .await?;
            if rows.is_empty() {
                return Ok(None);
            }
            let next = if i64::try_from(rows.len()).is_ok_and(|n| n < EXPORT_PAGE) {
                None
            } else {
                rows.last().map(|row| row.document_position)
            };
            let mut out = BytesMut::with_capacity(rows.len() * 96);
            for row in &rows {
                write_csv_row(&mut out, row)?;
            }
            Ok(Some((out.freeze(), next)))
        }
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, ApiError>(header) }),
        pages,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"matching-run-{run_id}.csv\""),
        ))
        .streaming(body))
}

fn write_csv_row(out: &mut BytesMut, row: &MatchResult) -> Result<(), ApiError> {
    // The top candidates as `row_id:confidence`, best first, separated by `|`.
    let candidates = row
        .candidates
        .0
        .iter()
        .map(|c| format!("{}:{:.4}", c.reference_row_id, c.confidence))
        .collect::<Vec<_>>()
        .join("|");
    // Per field `source=level:bits` (or `source=score` without a model), `|`-separated: the
    // waterfall of the match weight.
    let evidence = row
        .evidence
        .0
        .iter()
        .map(|e| match (&e.level, e.match_weight, e.score) {
            (Some(level), Some(bits), _) => format!("{}={level}:{bits:+.2}", e.source),
            (_, _, Some(score)) => format!("{}={score:.3}", e.source),
            _ => format!("{}=missing", e.source),
        })
        .collect::<Vec<_>>()
        .join("|");
    let match_weight = row.match_weight.map(|w| format!("{w:.3}"));
    let confidence = format!("{:.6}", row.confidence);
    write_record(
        out,
        [
            Some(row.document_id.as_str()),
            Some(row.document_filename.as_str()),
            row.matched_reference_row_id.as_deref(),
            Some(confidence.as_str()),
            Some(row.status.as_str()),
            Some(if row.ambiguous { "true" } else { "false" }),
            Some(row.resolved_by.as_str()),
            Some(candidates.as_str()),
            match_weight.as_deref(),
            Some(evidence.as_str()),
            row.review_notes.as_deref(),
            row.ai_suggested_row_id.as_deref(),
            row.ai_flag.as_deref(),
        ]
        .into_iter(),
    );
    Ok(())
}
