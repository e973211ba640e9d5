//! API key management for `admin` keys: create (the key is shown once), list, revoke.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use concord_models::api_keys::ApiKey;
use concord_models::database::connection;
use concord_models::ids::ApiKeyId;
use serde::{Deserialize, Serialize};

use crate::auth::{create_key_for, Admin, Authorized, Scopes};
use crate::error::ApiError;
use crate::extract::parse_json;
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api-keys")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .route("/api-keys/{id}", web::delete().to(revoke));
}

/// A key to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ci", "scopes": ["read", "write"]}))]
struct CreateKeyRequest {
    /// 1 to 200 characters.
    name: String,
    /// `read`, `write` and/or `admin`.
    scopes: Vec<String>,
}

/// An API key (its secret only in the answer to its creation).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ApiKeyView {
    id: String,
    name: String,
    key_prefix: String,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    /// Only in the response to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    key: Option<String>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        ApiKeyView {
            id: key.id.to_string(),
            name: key.name,
            key_prefix: key.key_prefix,
            scopes: key.scopes,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
            key: None,
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "api keys",
    operation_id = "create_api_key",
    summary = "Create an API key",
    security(("api_key" = ["admin"])),
    request_body(content = CreateKeyRequest),
    responses(
        (status = 201, description = "The key, with its secret `key` (shown this once).", body = ApiKeyView),
    ),
)]
async fn create(
    auth: Authorized<Admin>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let request: CreateKeyRequest = parse_json(&body)?;
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::validation(
            "name",
            "`name` must be 1 to 200 characters",
        ));
    }
    let scopes = Scopes::parse_list(&request.scopes.join(","))
        .map_err(|message| ApiError::validation("scopes", message))?;
    let (key, secret) = create_key_for(&state.pool, auth.organization_id, name, &scopes).await?;
    let mut view = ApiKeyView::from(key);
    view.key = Some(secret.expose().to_owned());
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "api keys",
    operation_id = "list_api_keys",
    summary = "The organisation's keys",
    security(("api_key" = ["admin"])),
    params(crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of keys (without their secrets).", body = Page<ApiKeyView>),
    ),
)]
async fn list(
    auth: Authorized<Admin>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let after: Option<ApiKeyId> = page.after_as()?;
    let mut conn = connection(&state.pool).await?;
    let rows = ApiKey::list(&mut conn, auth.organization_id, after, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |k| k.id.to_string(),
        ApiKeyView::from,
    )))
}

#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "api keys",
    operation_id = "revoke_api_key",
    summary = "Revoke an API key",
    security(("api_key" = ["admin"])),
    params(("id" = uuid::Uuid, Path, description = "The key's id.")),
    responses(
        (status = 204, description = "Revoked: the key is refused from now on."),
    ),
)]
async fn revoke(
    auth: Authorized<Admin>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id: ApiKeyId = crate::extract::path_id(&path)?;
    let mut conn = connection(&state.pool).await?;
    if ApiKey::revoke(&mut conn, auth.organization_id, id).await? {
        state.keys.forget(id);
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("API key", path.as_str()))
    }
}
