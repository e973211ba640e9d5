//! `/v1/dialects`: versioned output formats (date format, number locale, delimiter, null text,
//! encoding, boolean pair) that resolution results are rendered and exported in. The settings
//! are validated by the scoring core ([`DialectSettings`]); every update makes a new version.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use concord_models::database::connection;
use concord_models::dialects::{Dialect, NewDialect};
use concord_models::ids::DialectId;
use concord_models::json::Json;
use concord_scoring::dialect::{DialectError, DialectSettings};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::auth::{Authorized, Read, Write};
use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, path_id, RequestedVersion};
use crate::names::Name;
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/dialects")
            .route(web::post().to(create_dialect))
            .route(web::get().to(list_dialects)),
    )
    .service(
        web::resource("/dialects/{id}")
            .route(web::get().to(get_dialect))
            .route(web::patch().to(update_dialect))
            .route(web::delete().to(delete_dialect)),
    );
}

/// A dialect at one version: its settings beside its name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "01938f72-0000-7000-8000-0000000000cc", "name": "German ERP", "version": 1, "date_format": "DD.MM.YYYY", "number_locale": "de-DE", "delimiter": ";", "null_representation": "", "encoding": "windows-1252", "boolean_format": {"true": "ja", "false": "nein"}, "created_at": "2026-03-31T09:00:00Z", "updated_at": "2026-03-31T09:00:00Z", "links": {"self": "/v1/dialects/01938f72-0000-7000-8000-0000000000cc"}}))]
pub struct DialectView {
    pub id: String,
    pub name: String,
    pub version: i32,
    #[serde(flatten)]
    #[schema(value_type = crate::openapi::schemas::DialectSettingsSchema)]
    pub settings: DialectSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub links: Value,
}

impl From<Dialect> for DialectView {
    fn from(dialect: Dialect) -> Self {
        let id = dialect.id.to_string();
        Self {
            links: json!({ "self": format!("/v1/dialects/{id}") }),
            id,
            name: dialect.name,
            version: dialect.version,
            settings: dialect.settings.0,
            created_at: dialect.created_at,
            updated_at: dialect.updated_at,
        }
    }
}

fn problems(errors: Vec<DialectError>) -> ApiError {
    ApiError::ValidationList(
        errors
            .into_iter()
            .map(|e| Problem {
                field: e.field,
                message: e.message,
            })
            .collect(),
    )
}

/// A dialect's body: its `name` and any of its settings (read by the core, which names each
/// problem's field).
#[derive(Debug, Deserialize)]
struct DialectBody {
    #[serde(default)]
    name: Option<Name>,
    #[serde(flatten)]
    settings: Map<String, Value>,
}

#[utoipa::path(
    post,
    path = "/v1/dialects",
    tag = "dialects",
    operation_id = "create_dialect",
    summary = "Create a dialect",
    security(("api_key" = ["write"])),
    request_body(content = crate::openapi::schemas::DialectRequestSchema, description = "Its `name` and any settings (the rest take their defaults); every problem answered at once."),
    responses(
        (status = 201, description = "The dialect, version 1.", body = DialectView, headers(("Location" = String))),
    ),
)]
async fn create_dialect(
    auth: Authorized<Write>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: DialectBody = parse_json(&body)?;
    let name = body
        .name
        .ok_or_else(|| ApiError::validation("name", "`name` is required"))?
        .into_string();
    let settings = DialectSettings::parse(&Value::Object(body.settings)).map_err(problems)?;
    let mut conn = connection(&state.pool).await?;
    let dialect = Dialect::insert(
        &mut conn,
        NewDialect {
            id: DialectId::generate(),
            organization_id: auth.organization_id,
            name,
            settings: Json(settings),
        },
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/dialects/{}", dialect.id),
        ))
        .json(DialectView::from(dialect)))
}

/// `GET /v1/dialects/{id}`, or `?version=N` for an earlier version.
#[utoipa::path(
    get,
    path = "/v1/dialects/{id}",
    tag = "dialects",
    operation_id = "get_dialect",
    summary = "A dialect",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The dialect's id."), crate::openapi::VersionQuery),
    responses(
        (status = 200, description = "The dialect at the version asked (else the latest).", body = DialectView),
    ),
)]
async fn get_dialect(
    auth: Authorized<Read>,
    path: web::Path<String>,
    version: RequestedVersion,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<DialectId>(&path)?;
    let mut conn = connection(&state.pool).await?;
    let mut dialect = Dialect::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("dialect", id.to_string()))?;
    if let RequestedVersion(Some(version)) = version {
        let old = Dialect::find_version(&mut conn, id, version)
            .await?
            .ok_or_else(|| ApiError::not_found("dialect version", format!("{id} v{version}")))?;
        dialect.version = old.version;
        dialect.name = old.name;
        dialect.settings = old.settings;
        dialect.updated_at = old.created_at;
    }
    Ok(HttpResponse::Ok().json(DialectView::from(dialect)))
}

#[utoipa::path(
    get,
    path = "/v1/dialects",
    tag = "dialects",
    operation_id = "list_dialects",
    summary = "Dialects, newest first",
    security(("api_key" = ["read"])),
    params(crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of dialects.", body = Page<DialectView>),
    ),
)]
async fn list_dialects(
    auth: Authorized<Read>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let before: Option<DialectId> = page.after_as()?;
    let mut conn = connection(&state.pool).await?;
    let rows = Dialect::list(&mut conn, auth.organization_id, before, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |dialect| dialect.id.to_string(),
        DialectView::from,
    )))
}

/// `PATCH /v1/dialects/{id}`: the settings given replace those of the current version, the rest
/// stay; a new version.
#[utoipa::path(
    patch,
    path = "/v1/dialects/{id}",
    tag = "dialects",
    operation_id = "update_dialect",
    summary = "Change some settings: a new version",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The dialect's id.")),
    request_body(content = crate::openapi::schemas::DialectRequestSchema, description = "The settings given replace those of the current version; the rest stay."),
    responses(
        (status = 200, description = "The dialect at its new version.", body = DialectView),
    ),
)]
async fn update_dialect(
    auth: Authorized<Write>,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<DialectId>(&path)?;
    let body: DialectBody = parse_json(&body)?;
    let patch = Value::Object(body.settings);
    let mut conn = connection(&state.pool).await?;
    let current = Dialect::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("dialect", id.to_string()))?;
    let settings = current.settings.0.patched(&patch).map_err(problems)?;
    let dialect = Dialect::update(
        &mut conn,
        auth.organization_id,
        id,
        body.name.map_or(current.name, Name::into_string),
        settings,
    )
    .await?
    .ok_or_else(|| ApiError::not_found("dialect", id.to_string()))?;
    Ok(HttpResponse::Ok().json(DialectView::from(dialect)))
}

#[utoipa::path(
    delete,
    path = "/v1/dialects/{id}",
    tag = "dialects",
    operation_id = "delete_dialect",
    summary = "Delete a dialect",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The dialect's id.")),
    responses(
        (status = 204, description = "Deleted; runs keep their snapshot."),
    ),
)]
async fn delete_dialect(
    auth: Authorized<Write>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<DialectId>(&path)?;
    let mut conn = connection(&state.pool).await?;
    if Dialect::delete(&mut conn, auth.organization_id, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("dialect", id.to_string()))
    }
}
