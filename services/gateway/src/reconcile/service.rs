//! The reconciliation service of one config, at `/reconcile/{token}`: its manifest (`GET`), batches
//! of queries (`GET ?queries=`, `POST` form-encoded `queries=`, `POST` JSON), entity and property
//! suggest, and an HTML preview of a reference row. The token opens exactly one config of one
//! organisation, read-only; a revoked or unknown token is a 401. Queries are matched by the
//! matching workers' real-time match ([`crate::matching::realtime`]), at most
//! [`QUERY_CONCURRENCY`] of a batch at once; while a worker builds the config's index, the batch
//! waits for it (up to [`WARM_WAIT`]) rather than failing, since OpenRefine does not retry.
//! Every answer carries `Access-Control-Allow-Origin: *`, for reconciliation clients in a browser.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use concord_models::database::connection;
use concord_models::matching_configs::MatchingConfig;
use concord_models::reconciliation_tokens::ReconciliationToken;
use concord_models::reference_datasets::{ReferenceDataset, ReferenceRow};
use concord_runs::realtime::{RealtimeDecision, RealtimeMatch, RealtimeMatchRequest};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::protocol::{
    parse_batch, Candidate, EntityType, Feature, QueryFields, QueryResult, ReconciliationQuery,
};
use super::tokens::base_url;
use crate::auth::hash_key;
use crate::error::{ApiError, ErrorCode};
use crate::html::escape;
use crate::rate_limit::Caller;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/reconcile/{token}", web::get().to(manifest_or_queries))
        .route("/reconcile/{token}", web::post().to(queries))
        .route(
            "/reconcile/{token}",
            web::method(actix_web::http::Method::OPTIONS).to(preflight),
        )
        .route(
            "/reconcile/{token}/suggest/entity",
            web::get().to(suggest_entity),
        )
        .route(
            "/reconcile/{token}/suggest/property",
            web::get().to(suggest_property),
        )
        .route("/reconcile/{token}/preview", web::get().to(preview));
}

/// Queries of one batch matched at once.
pub const QUERY_CONCURRENCY: usize = 4;
/// How long a batch waits for a config's index to be built.
pub const WARM_WAIT: Duration = Duration::from_secs(30);
/// Entities a suggest answers with.
const SUGGEST_LIMIT: i64 = 10;
/// The deepest `cursor` of an entity suggest.
const MAX_SUGGEST_CURSOR: i64 = 1_000;
/// The preview's size in OpenRefine.
const PREVIEW_WIDTH: u32 = 400;
const PREVIEW_HEIGHT: u32 = 200;

/// The config a token opens, and what its service needs of it.
struct Service {
    token: ReconciliationToken,
    config: MatchingConfig,
    dataset: ReferenceDataset,
    fields: QueryFields,
    /// The dataset column of the query field: a candidate's name.
    name_column: usize,
    /// The dataset columns of the other fields: a candidate's description.
    described_columns: Vec<usize>,
}

impl Service {
    /// The service of `token`: 401 for a token that is unknown or revoked, 429 over the token's
    /// rate limit (each token has a bucket like a key's; a batch is one request), 409
    /// `reference_data_deleted` when the config's dataset is gone, 409 `query_field_removed`
    /// when the config no longer has the token's query field.
    async fn open(state: &AppState, token: &str) -> Result<Service, ApiError> {
        let refused = || {
            ApiError::Unauthorized(
                "the reconciliation token is not valid (never issued, or revoked)".to_owned(),
            )
        };
        let mut conn = connection(&state.pool).await?;
        let token = ReconciliationToken::find_active_by_hash(&mut conn, &hash_key(token))
            .await?
            .ok_or_else(refused)?;
        let decision = state
            .rate_limiter
            .check(&state.pool, Caller::ReconciliationToken(token.id))
            .await?;
        if !decision.allowed {
            return Err(ApiError::RateLimited {
                retry_after_secs: decision.retry_after_secs,
            });
        }
        let config = MatchingConfig::find(&mut conn, token.organization_id, token.config_id)
            .await?
            .ok_or_else(refused)?;
        let dataset = ReferenceDataset::find_by_id(&mut conn, config.reference_data_id)
            .await?
            .ok_or_else(|| ApiError::Conflict {
                code: ErrorCode::ReferenceDataDeleted,
                message: format!("the reference data of config `{}` was deleted", config.id),
            })?;
        let mappings = &config.field_mappings.0;
        let column_of = |target: &str| dataset.columns().iter().position(|c| c.name == target);
        let query_mapping = mappings
            .iter()
            .find(|m| m.source == token.query_field)
            .ok_or_else(|| ApiError::Conflict {
                code: ErrorCode::QueryFieldRemoved,
                message: format!(
                    "config `{}` no longer has the field `{}` this token's queries fill: issue a new token",
                    config.id, token.query_field
                ),
            })?;
        let name_column = column_of(&query_mapping.target).ok_or_else(|| {
            ApiError::internal_message(format!(
                "config `{}` maps onto column `{}`, which its dataset lacks",
                config.id, query_mapping.target
            ))
        })?;
        let mut described_columns = Vec::new();
        for mapping in mappings {
            if let Some(column) = column_of(&mapping.target) {
                if column != name_column && !described_columns.contains(&column) {
                    described_columns.push(column);
                }
            }
        }
        let fields = QueryFields {
            query_field: token.query_field.clone(),
            fields: mappings.iter().map(|m| m.source.clone()).collect(),
        };
        Ok(Service {
            token,
            config,
            dataset,
            fields,
            name_column,
            described_columns,
        })
    }

    /// The service's one type: the config's reference dataset.
    fn entity_type(&self) -> EntityType {
        EntityType {
            id: self.dataset.id.to_string(),
            name: self.dataset.name.clone(),
        }
    }

    fn name_of(&self, row_id: &str, cells: &[Option<String>]) -> String {
        cells
            .get(self.name_column)
            .cloned()
            .flatten()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| row_id.to_owned())
    }

    fn description_of(&self, cells: &[Option<String>]) -> Option<String> {
        let parts: Vec<String> = self
            .described_columns
            .iter()
            .filter_map(|&column| {
                let value = cells.get(column)?.as_deref()?.trim();
                let name = &self.dataset.columns().get(column)?.name;
                (!value.is_empty()).then(|| format!("{name}: {value}"))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(" · "))
    }

    fn manifest(&self, base: &str, token: &str) -> Manifest {
        let service_url = format!("{base}/reconcile/{token}");
        Manifest {
            versions: vec!["0.2"],
            name: format!("{} (Concord)", self.config.name),
            identifier_space: format!("{base}/v1/reference-data/{}/rows", self.dataset.id),
            schema_space: format!("{base}/v1/matching/configs/{}", self.config.id),
            documentation: format!("{base}/docs"),
            service_version: env!("CARGO_PKG_VERSION"),
            default_types: vec![self.entity_type()],
            view: UrlTemplate {
                url: format!("{service_url}/preview?id={{{{id}}}}"),
            },
            preview: Preview {
                url: format!("{service_url}/preview?id={{{{id}}}}"),
                width: PREVIEW_WIDTH,
                height: PREVIEW_HEIGHT,
            },
            suggest: Suggest {
                entity: SuggestService {
                    service_url: service_url.clone(),
                    service_path: "/suggest/entity",
                },
                property: SuggestService {
                    service_url,
                    service_path: "/suggest/property",
                },
            },
        }
    }
}

/// The service manifest (0.2 `manifest.json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    versions: Vec<&'static str>,
    name: String,
    /// Where the candidates' ids (reference row ids) live.
    identifier_space: String,
    /// Where the properties (the config's fields) are defined.
    schema_space: String,
    documentation: String,
    service_version: &'static str,
    /// The service's one type: the config's reference dataset.
    default_types: Vec<EntityType>,
    view: UrlTemplate,
    preview: Preview,
    suggest: Suggest,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UrlTemplate {
    /// With `{{id}}` where the id goes.
    url: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// With `{{id}}` where the id goes.
    url: String,
    width: u32,
    height: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Suggest {
    entity: SuggestService,
    property: SuggestService,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuggestService {
    service_url: String,
    service_path: &'static str,
}

/// `?queries=` of a `GET`, or the form of a `POST`.
#[derive(Debug, Deserialize)]
struct QueriesParam {
    queries: Option<String>,
    callback: Option<String>,
}

impl QueriesParam {
    fn refuse_jsonp(&self) -> Result<(), ApiError> {
        match self.callback {
            Some(_) => Err(ApiError::validation(
                "callback",
                "`callback`: JSONP is not served; the service answers CORS requests",
            )),
            None => Ok(()),
        }
    }
}

/// An answer with the CORS header, errors in their envelope too.
fn cors(result: Result<HttpResponse, ApiError>) -> HttpResponse {
    let mut response = result.unwrap_or_else(|error| error.error_response());
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    response
}

#[utoipa::path(
    get,
    path = "/reconcile/{token}",
    tag = "reconciliation",
    operation_id = "reconciliation_service",
    summary = "The reconciliation service's manifest, or the answers to a batch of queries",
    description = "W3C Reconciliation Service API 0.2 over the token's config. Without `queries`, the service manifest; with `queries` (a JSON object of queries by key), the candidates of each query: `score` is the match confidence × 100, `match` is true only for the best candidate of a `matched` decision.",
    params(
        ("token" = String, Path, description = "A reconciliation token (`POST /v1/matching/configs/{id}/reconciliation-tokens`)."),
        ("queries" = Option<String>, Query, description = "A batch of queries, as JSON: `{\"q0\": {\"query\": \"Acme GmbH\", \"limit\": 3, \"properties\": [{\"pid\": \"tax_id\", \"v\": \"DE123\"}]}}`."),
    ),
    responses(
        (status = 200, description = "The manifest, or the candidates of each query by its key.", body = crate::openapi::schemas::ReconciliationAnswerSchema),
        (status = 404, description = "`model_not_trained`: the config scores probabilistically and has no model yet.", body = crate::openapi::errors::ErrorEnvelope),
        (status = 422, description = "`validation_failed`: `details.field` names the query and its field (`q0.properties[1].pid`).", body = crate::openapi::errors::ErrorEnvelope),
        (status = 503, description = "`index_warming` or `matching_unavailable`; ask again after `Retry-After`.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn manifest_or_queries(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    cors(
        async {
            let params: QueriesParam = crate::extract::query(&req)?;
            params.refuse_jsonp()?;
            let service = Service::open(&state, &path).await?;
            match params.queries {
                None => Ok(HttpResponse::Ok().json(service.manifest(&base_url(&req), &path))),
                Some(batch) => answer(&state, &service, batch.as_bytes()).await,
            }
        }
        .await,
    )
}

#[utoipa::path(
    post,
    path = "/reconcile/{token}",
    tag = "reconciliation",
    operation_id = "reconcile",
    summary = "Answer a batch of reconciliation queries",
    description = "The batch as OpenRefine sends it (a form with `queries=`, the batch as JSON), or the batch itself as a JSON body.",
    params(("token" = String, Path, description = "A reconciliation token.")),
    request_body(
        description = "`queries=<batch as JSON>` (form), or the batch as JSON.",
        content(
            (crate::openapi::schemas::QueriesFormSchema = "application/x-www-form-urlencoded"),
            (Object = "application/json", example = json!({"q0": {"query": "Acme GmbH", "limit": 3}})),
        ),
    ),
    responses(
        (status = 200, description = "The candidates of each query, by its key.", body = BTreeMap<String, QueryResult>),
        (status = 400, description = "`bad_request`: the form is not UTF-8.", body = crate::openapi::errors::ErrorEnvelope),
        (status = 404, description = "`model_not_trained`.", body = crate::openapi::errors::ErrorEnvelope),
        (status = 413, description = "`payload_too_large`.", body = crate::openapi::errors::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: neither a form nor JSON.", body = crate::openapi::errors::ErrorEnvelope),
        (status = 422, description = "`validation_failed`: `details.field` names the query and its field.", body = crate::openapi::errors::ErrorEnvelope),
        (status = 503, description = "`index_warming` or `matching_unavailable`; ask again after `Retry-After`.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn queries(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    cors(
        async {
            let batch = match crate::extract::media_type(&req).as_str() {
                "application/x-www-form-urlencoded" => {
                    let text = std::str::from_utf8(&body)
                        .map_err(|_| ApiError::BodyRead("the form is not UTF-8".to_owned()))?;
                    let form = web::Query::<QueriesParam>::from_query(text)
                        .map_err(|error| {
                            ApiError::validation("queries", format!("invalid form: {error}"))
                        })?
                        .into_inner();
                    form.refuse_jsonp()?;
                    form.queries
                        .ok_or_else(|| {
                            ApiError::validation("queries", "the form has no `queries` field")
                        })?
                        .into_bytes()
                }
                "application/json" => body.to_vec(),
                other => {
                    return Err(ApiError::UnsupportedMediaType {
                        given: other.to_owned(),
                        accepted:
                            "application/x-www-form-urlencoded (`queries=`) or application/json",
                    })
                }
            };
            let service = Service::open(&state, &path).await?;
            answer(&state, &service, &batch).await
        }
        .await,
    )
}

/// What a browser asks before a JSON `POST`.
async fn preflight() -> HttpResponse {
    cors(Ok(HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()))
}

/// Matches every query of the batch and answers their candidates by key.
async fn answer(
    state: &AppState,
    service: &Service,
    batch: &[u8],
) -> Result<HttpResponse, ApiError> {
    let queries = parse_batch(batch, &service.fields)?;
    let type_id = service.dataset.id.to_string();
    let matched: Vec<Result<(ReconciliationQuery, Option<RealtimeMatch>), ApiError>> =
        futures_util::stream::iter(queries)
            .map(|query| {
                let type_id = &type_id;
                async move {
                    if !query.wants_type(type_id) || query.limit == Some(0) {
                        return Ok((query, None));
                    }
                    let request = RealtimeMatchRequest {
                        organization_id: service.token.organization_id,
                        config_id: service.config.id,
                        values: query.values.clone(),
                    };
                    let scored = match_waiting(state, &request).await?;
                    Ok((query, Some(scored)))
                }
            })
            .buffered(QUERY_CONCURRENCY)
            .collect()
            .await;
    let matched = matched.into_iter().collect::<Result<Vec<_>, _>>()?;

    let mut row_ids: Vec<String> = matched
        .iter()
        .filter_map(|(_, scored)| scored.as_ref())
        .flat_map(|scored| scored.candidates.iter().map(|c| c.reference_row_id.clone()))
        .collect();
    row_ids.sort_unstable();
    row_ids.dedup();
    let rows: HashMap<String, Vec<Option<String>>> = {
        let mut conn = connection(&state.pool).await?;
        ReferenceRow::find_by_row_ids(&mut conn, service.dataset.id, &row_ids)
            .await?
            .into_iter()
            .collect()
    };

    let entity_type = service.entity_type();
    let mut results = BTreeMap::new();
    for (query, scored) in matched {
        let result = match scored {
            None => Vec::new(),
            Some(scored) => candidates(service, &entity_type, &rows, &query, scored)?,
        };
        results.insert(query.key, QueryResult { result });
    }
    Ok(HttpResponse::Ok().json(results))
}

/// The candidates of one answered query, best first, at most its `limit`.
fn candidates(
    service: &Service,
    entity_type: &EntityType,
    rows: &HashMap<String, Vec<Option<String>>>,
    query: &ReconciliationQuery,
    scored: RealtimeMatch,
) -> Result<Vec<Candidate>, ApiError> {
    let sure = scored.decision == RealtimeDecision::Matched && !scored.ambiguous;
    let features: Vec<Feature> = scored
        .evidence
        .iter()
        .filter_map(|e| {
            e.score.map(|value| Feature {
                id: e.source.clone(),
                value,
            })
        })
        .collect();
    let limit = query.limit.unwrap_or(usize::MAX);
    scored
        .candidates
        .into_iter()
        .take(limit)
        .enumerate()
        .map(|(rank, candidate)| {
            let cells = rows.get(&candidate.reference_row_id).ok_or_else(|| {
                ApiError::internal_message(format!(
                    "candidate `{}` is not a row of dataset `{}`",
                    candidate.reference_row_id, service.dataset.id
                ))
            })?;
            let best = rank == 0;
            let is_match = best
                && sure
                && scored.matched_reference_row_id.as_deref()
                    == Some(candidate.reference_row_id.as_str());
            Ok(Candidate {
                name: service.name_of(&candidate.reference_row_id, cells),
                description: service.description_of(cells),
                score: candidate.confidence * 100.0,
                is_match,
                types: vec![entity_type.clone()],
                features: if best { features.clone() } else { Vec::new() },
                id: candidate.reference_row_id,
            })
        })
        .collect()
}

/// The real-time match of one query, waiting while a worker builds the config's index.
async fn match_waiting(
    state: &AppState,
    request: &RealtimeMatchRequest,
) -> Result<RealtimeMatch, ApiError> {
    let deadline = Instant::now() + WARM_WAIT;
    loop {
        match state.realtime.match_now(request).await {
            Err(ApiError::Unavailable {
                code: ErrorCode::IndexWarming,
                retry_after_secs,
                message,
            }) => {
                let wait = Duration::from_secs(retry_after_secs);
                if Instant::now() + wait > deadline {
                    return Err(ApiError::Unavailable {
                        code: ErrorCode::IndexWarming,
                        retry_after_secs,
                        message,
                    });
                }
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

#[derive(Debug, Deserialize)]
struct SuggestParams {
    prefix: Option<String>,
    cursor: Option<String>,
}

/// One suggested entity (0.2 `suggest-entities-response.json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuggestedEntity {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    description: Option<String>,
    notable: Vec<EntityType>,
}

/// One suggested property (0.2 `suggest-properties-response.json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuggestedProperty {
    id: String,
    name: String,
    description: String,
}

/// A suggest answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Suggestions<T> {
    result: Vec<T>,
}

fn prefix_of(params: &SuggestParams) -> Result<&str, ApiError> {
    params
        .prefix
        .as_deref()
        .ok_or_else(|| ApiError::validation("prefix", "`prefix` is required"))
}

#[utoipa::path(
    get,
    path = "/reconcile/{token}/suggest/entity",
    tag = "reconciliation",
    operation_id = "reconciliation_suggest_entity",
    summary = "Reference rows whose name begins with a prefix",
    description = "Rows whose value of the query field's column begins with `prefix`, or has a word that does (ignoring case): those that begin with it first, then in upload order; ten at a time from `cursor`.",
    params(
        ("token" = String, Path, description = "A reconciliation token."),
        ("prefix" = String, Query, description = "What the user typed."),
        ("cursor" = Option<u32>, Query, description = "How many suggestions to skip (0–1000)."),
    ),
    responses(
        (status = 200, description = "The suggestions.", body = Suggestions<SuggestedEntity>),
        (status = 422, description = "`validation_failed`: `prefix` missing, `cursor` out of range.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn suggest_entity(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    cors(
        async {
            let params: SuggestParams = crate::extract::query(&req)?;
            let prefix = prefix_of(&params)?.trim();
            let skip = crate::extract::param::<i64>(
                "cursor",
                params.cursor.as_deref(),
                &format!("a whole number from 0 to {MAX_SUGGEST_CURSOR}"),
            )?
            .unwrap_or(0);
            if !(0..=MAX_SUGGEST_CURSOR).contains(&skip) {
                return Err(ApiError::validation(
                    "cursor",
                    format!("`cursor` must be from 0 to {MAX_SUGGEST_CURSOR}, got {skip}"),
                ));
            }
            crate::extract::reject_nul("prefix", None, prefix)?;
            let service = Service::open(&state, &path).await?;
            let found = if prefix.is_empty() {
                Vec::new()
            } else {
                let mut conn = connection(&state.pool).await?;
                ReferenceRow::search_prefix(
                    &mut conn,
                    service.dataset.id,
                    service.name_column,
                    prefix,
                    skip + SUGGEST_LIMIT,
                )
                .await?
            };
            let entity_type = service.entity_type();
            let result = found
                .into_iter()
                .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                .map(|(row_id, cells)| SuggestedEntity {
                    name: service.name_of(&row_id, &cells),
                    description: service.description_of(&cells),
                    notable: vec![entity_type.clone()],
                    id: row_id,
                })
                .collect();
            Ok(HttpResponse::Ok().json(Suggestions { result }))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/reconcile/{token}/suggest/property",
    tag = "reconciliation",
    operation_id = "reconciliation_suggest_property",
    summary = "The config's fields whose name holds a prefix",
    description = "The fields a query's `properties` may name (`pid`): the config's mappings' `source`s, those holding `prefix` (ignoring case).",
    params(
        ("token" = String, Path, description = "A reconciliation token."),
        ("prefix" = String, Query, description = "What the user typed."),
    ),
    responses(
        (status = 200, description = "The suggestions.", body = Suggestions<SuggestedProperty>),
        (status = 422, description = "`validation_failed`: `prefix` missing.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn suggest_property(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    cors(
        async {
            let params: SuggestParams = crate::extract::query(&req)?;
            let prefix = prefix_of(&params)?.trim().to_lowercase();
            let service = Service::open(&state, &path).await?;
            let result = service
                .config
                .field_mappings
                .0
                .iter()
                .filter(|m| m.source.to_lowercase().contains(&prefix))
                .map(|m| SuggestedProperty {
                    id: m.source.clone(),
                    name: m.source.clone(),
                    description: format!("compared with column `{}` ({})", m.target, m.strategy),
                })
                .collect();
            Ok(HttpResponse::Ok().json(Suggestions { result }))
        }
        .await,
    )
}

#[derive(Debug, Deserialize)]
struct PreviewParams {
    id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/reconcile/{token}/preview",
    tag = "reconciliation",
    operation_id = "reconciliation_preview",
    summary = "A reference row as a small HTML page",
    description = "Every column of the row, for OpenRefine's preview pop-up (the manifest's `preview` and `view`).",
    params(
        ("token" = String, Path, description = "A reconciliation token."),
        ("id" = String, Query, description = "The reference row's id."),
    ),
    responses(
        (status = 200, description = "The row.", content_type = "text/html", body = String),
        (status = 404, description = "`not_found`: no such row.", body = crate::openapi::errors::ErrorEnvelope),
        (status = 422, description = "`validation_failed`: `id` missing.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn preview(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    cors(
        async {
            let params: PreviewParams = crate::extract::query(&req)?;
            let id = params
                .id
                .ok_or_else(|| ApiError::validation("id", "`id` is required"))?;
            crate::extract::reject_nul("id", None, &id)?;
            let service = Service::open(&state, &path).await?;
            let mut conn = connection(&state.pool).await?;
            let (row_id, cells) = ReferenceRow::find_by_row_ids(
                &mut conn,
                service.dataset.id,
                std::slice::from_ref(&id),
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::not_found("reference row", id))?;
            let name = service.name_of(&row_id, &cells);
            let columns = service.dataset.columns().iter().zip(cells.iter());
            let page = preview_page(
                &name,
                &row_id,
                columns.map(|(c, v)| (c.name.as_str(), v.as_deref().unwrap_or(""))),
            );
            Ok(HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .insert_header((
                    "Content-Security-Policy",
                    "default-src 'none'; style-src 'unsafe-inline'",
                ))
                .body(page))
        }
        .await,
    )
}

/// The preview's HTML: every value escaped.
fn preview_page<'a>(
    name: &str,
    row_id: &str,
    columns: impl Iterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut page = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title><style>body{{font:13px sans-serif;margin:6px}}h1{{font-size:15px;margin:0 0 6px}}th{{text-align:left;color:#444;padding-right:10px;vertical-align:top}}</style></head><body><h1>{}</h1><table><tr><th>id</th><td>{}</td></tr>",
        escape(name),
        escape(name),
        escape(row_id)
    );
    for (column, value) in columns {
        page.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(column),
            escape(value)
        ));
    }
    page.push_str("</table></body></html>");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_escapes_every_value() {
        let page = preview_page(
            "<script>alert(1)</script>",
            "R\"1",
            [("na'me", "a & b <i>")].into_iter(),
        );
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<i>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("R&quot;1"));
        assert!(page.contains("na&#39;me"));
        assert!(page.contains("a &amp; b &lt;i&gt;"));
    }
}
