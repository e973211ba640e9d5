//! A config's reconciliation tokens: `POST/GET /v1/matching/configs/{id}/reconciliation-tokens`,
//! `DELETE .../reconciliation-tokens/{token_id}`. A token is read-only and opens one config's
//! reconciliation service; the token itself, and the service URL that carries it, are shown only
//! in the answer to its creation.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use concord_models::database::connection;
use concord_models::ids::{MatchingConfigId, ReconciliationTokenId};
use concord_models::matching_configs::MatchingConfig;
use concord_models::reconciliation_tokens::{NewReconciliationToken, ReconciliationToken};
use serde::{Deserialize, Serialize};

use crate::auth::{hash_key, Authorized, Read, Secret, Write};
use crate::error::ApiError;
use crate::extract::{parse_json, path_id};
use crate::names::Name;
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/matching/configs/{id}/reconciliation-tokens")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .route(
        "/matching/configs/{id}/reconciliation-tokens/{token_id}",
        web::delete().to(revoke),
    );
}

/// What a reconciliation token begins with.
const TOKEN_PREFIX: &str = "crt_";

/// A token to issue.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "openrefine", "query_field": "vendor_name"}))]
pub struct CreateTokenBody {
    /// 1 to 200 characters.
    name: String,
    /// The config field (a mapping's `source`) that a query's text fills; the first mapping's
    /// when absent.
    #[serde(default)]
    query_field: Option<String>,
}

/// A reconciliation token (the secret and the service URL only in the answer to its creation).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "01938f60-0000-7000-8000-0000000000aa", "config_id": "01938f60-0000-7000-8000-000000000001", "name": "openrefine", "token_prefix": "crt_5f1e2a3b", "query_field": "vendor_name", "created_at": "2026-12-04T10:00:00Z", "revoked_at": null, "token": "crt_5f1e2a3b..."}))]
pub struct ReconciliationTokenView {
    id: String,
    config_id: String,
    name: String,
    /// The token's first characters, to recognise it.
    token_prefix: String,
    query_field: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    /// The token: only in the response to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    token: Option<String>,
    /// The reconciliation service's URL, the token in it (what OpenRefine is given): only in the
    /// response to the token's creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    service_url: Option<String>,
}

impl From<ReconciliationToken> for ReconciliationTokenView {
    fn from(token: ReconciliationToken) -> Self {
        ReconciliationTokenView {
            id: token.id.to_string(),
            config_id: token.config_id.to_string(),
            name: token.name,
            token_prefix: token.token_prefix,
            query_field: token.query_field,
            created_at: token.created_at,
            revoked_at: token.revoked_at,
            token: None,
            service_url: None,
        }
    }
}

/// The scheme and host the caller reached the gateway by, for URLs it can follow.
pub fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

#[utoipa::path(
    post,
    path = "/v1/matching/configs/{id}/reconciliation-tokens",
    tag = "reconciliation",
    operation_id = "create_reconciliation_token",
    summary = "Issue a reconciliation token",
    description = "A read-only token that opens the config's W3C Reconciliation service (for OpenRefine, which sends no `Authorization` header) at `service_url`. The token and the URL are shown this once; only a hash is kept.",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The config's id.")),
    request_body(content = CreateTokenBody),
    responses(
        (status = 201, description = "The token, with its secret `token` and `service_url` (shown this once).", body = ReconciliationTokenView),
    ),
)]
async fn create(
    auth: Authorized<Write>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config_id: MatchingConfigId = path_id(&path)?;
    let body: CreateTokenBody = parse_json(&body)?;
    let name = Name::parse("name", &body.name)?;
    let mut conn = connection(&state.pool).await?;
    let config = MatchingConfig::find(&mut conn, auth.organization_id, config_id)
        .await?
        .ok_or_else(|| ApiError::not_found("matching config", path.as_str()))?;
    let sources: Vec<&str> = config
        .field_mappings
        .0
        .iter()
        .map(|m| m.source.as_str())
        .collect();
    let query_field = match body.query_field {
        Some(field) if sources.contains(&field.as_str()) => field,
        Some(field) => {
            return Err(ApiError::validation(
                "query_field",
                format!(
                    "`query_field`: `{field}` is not a field of the config (its fields: {})",
                    sources.join(", ")
                ),
            ))
        }
        None => sources
            .first()
            .map(|s| (*s).to_owned())
            .ok_or_else(|| ApiError::internal_message("a config without mappings".to_owned()))?,
    };
    let secret = Secret::with_prefix(TOKEN_PREFIX);
    let token = ReconciliationToken::insert(
        &mut conn,
        NewReconciliationToken {
            id: ReconciliationTokenId::generate(),
            organization_id: auth.organization_id,
            config_id,
            name: name.as_str(),
            token_prefix: secret.display_prefix(),
            token_hash: &hash_key(secret.expose()),
            query_field: &query_field,
        },
    )
    .await?;
    let mut view = ReconciliationTokenView::from(token);
    view.service_url = Some(format!("{}/reconcile/{}", base_url(&req), secret.expose()));
    view.token = Some(secret.expose().to_owned());
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(
    get,
    path = "/v1/matching/configs/{id}/reconciliation-tokens",
    tag = "reconciliation",
    operation_id = "list_reconciliation_tokens",
    summary = "The config's reconciliation tokens",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The config's id."), crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of tokens (without their secrets), revoked ones included.", body = Page<ReconciliationTokenView>),
    ),
)]
async fn list(
    auth: Authorized<Read>,
    path: web::Path<String>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config_id: MatchingConfigId = path_id(&path)?;
    let after: Option<ReconciliationTokenId> = page.after_as()?;
    let mut conn = connection(&state.pool).await?;
    MatchingConfig::find(&mut conn, auth.organization_id, config_id)
        .await?
        .ok_or_else(|| ApiError::not_found("matching config", path.as_str()))?;
    let rows = ReconciliationToken::list(
        &mut conn,
        auth.organization_id,
        config_id,
        after,
        page.fetch_limit(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |t| t.id.to_string(),
        ReconciliationTokenView::from,
    )))
}

#[utoipa::path(
    delete,
    path = "/v1/matching/configs/{id}/reconciliation-tokens/{token_id}",
    tag = "reconciliation",
    operation_id = "revoke_reconciliation_token",
    summary = "Revoke a reconciliation token",
    security(("api_key" = ["write"])),
    params(
        ("id" = uuid::Uuid, Path, description = "The config's id."),
        ("token_id" = uuid::Uuid, Path, description = "The token's id."),
    ),
    responses(
        (status = 204, description = "Revoked: its service URL answers 401 from now on."),
    ),
)]
async fn revoke(
    auth: Authorized<Write>,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (config, token) = path.into_inner();
    let config_id: MatchingConfigId = path_id(&config)?;
    let token_id: ReconciliationTokenId = path_id(&token)?;
    let mut conn = connection(&state.pool).await?;
    if ReconciliationToken::revoke(&mut conn, auth.organization_id, config_id, token_id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("reconciliation token", token))
    }
}
