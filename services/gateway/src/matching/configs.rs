//! `/v1/matching/configs`: create, read, replace and delete matching configs. Saving validates
//! the mappings against the reference dataset's columns through the scoring core, so a config
//! that is stored is one the workers can run.

use actix_web::{web, HttpResponse};
use concord_models::database::connection;
use concord_models::ids::{MatchingConfigId, ReferenceDatasetId};
use concord_models::matching_configs::{
    Assignment, MatchingConfig, MatchingConfigUpdate, NewMatchingConfig, Scoring,
};
use concord_models::reference_datasets::ReferenceDataset;
use concord_scoring::matcher::{FieldMapping, MatchSettings, MatchSpec};
use diesel_async::AsyncPgConnection;
use serde::Deserialize;

use super::view::MatchingConfigView;
use crate::auth::{Authenticated, Authorized, Read, Write};
use crate::error::ApiError;
use crate::extract::{parse_json, path_id};
use crate::names::Name;
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/matching/configs")
            .route(web::post().to(create_config))
            .route(web::get().to(list_configs)),
    )
    .service(
        web::resource("/matching/configs/{id}")
            .route(web::get().to(get_config))
            .route(web::put().to(replace_config))
            .route(web::delete().to(delete_config)),
    );
}

/// The body of `POST` and `PUT`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MatchingConfigRequest, example = json!({"name": "Invoices to ledger", "reference_data_id": "0192f5e4-8f7a-7c3e-9a55-2b1f0c3d4e5f", "field_mappings": [{"source": "invoice_number", "target": "invoice_id", "strategy": "fuzzy", "params": {"kind": "identifier"}}, {"source": "vendor_name", "target": "vendor", "strategy": "fuzzy", "params": {"kind": "name"}}], "threshold": 0.85}))]
pub struct ConfigBody {
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub name: Name,
    /// Required on creation; on `PUT` it may be repeated but not changed.
    #[serde(default)]
    pub reference_data_id: Option<uuid::Uuid>,
    #[schema(value_type = Vec<crate::openapi::schemas::FieldMappingSchema>)]
    pub field_mappings: Vec<FieldMapping>,
    /// Default 0.85.
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub review_band: Option<ReviewBandBody>,
    #[serde(default)]
    pub ambiguity_margin: Option<f64>,
    /// `probabilistic` (the default for a new config) or `weighted`; a `PUT` without it keeps the
    /// config's.
    #[serde(default)]
    pub scoring: Option<String>,
    /// `independent` (the default) or `one_to_one`; a `PUT` without it keeps the config's.
    #[serde(default)]
    pub assignment: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBandBody {
    /// Results from here up to the threshold go to review.
    pub lower: f64,
}

/// A config body that the scoring core accepted against its dataset's columns.
struct ValidConfig {
    name: String,
    field_mappings: Vec<FieldMapping>,
    settings: MatchSettings,
    scoring: Scoring,
    assignment: Assignment,
}

/// What a body leaves out: a new config's defaults, or what an existing config has.
struct Defaults {
    scoring: Scoring,
    assignment: Assignment,
}

async fn validate(
    conn: &mut AsyncPgConnection,
    auth: &Authenticated,
    dataset_id: ReferenceDatasetId,
    body: ConfigBody,
    defaults: Defaults,
) -> Result<ValidConfig, ApiError> {
    let name = body.name.into_string();
    let dataset = ReferenceDataset::find(conn, auth.organization_id, dataset_id)
        .await?
        .ok_or_else(|| {
            ApiError::validation(
                "reference_data_id",
                format!("no reference dataset `{dataset_id}` (it does not exist or was deleted)"),
            )
        })?;
    let columns = dataset.columns();
    let column_names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let scoring = match &body.scoring {
        Some(raw) => raw
            .parse::<Scoring>()
            .map_err(|message| ApiError::validation("scoring", message))?,
        None => defaults.scoring,
    };
    let assignment = match &body.assignment {
        Some(raw) => raw
            .parse::<Assignment>()
            .map_err(|message| ApiError::validation("assignment", message))?,
        None => defaults.assignment,
    };
    let settings = MatchSettings::new(
        body.threshold,
        body.review_band.map(|band| band.lower),
        body.ambiguity_margin,
    )
    .map_err(|e| ApiError::validation(e.path, e.message))?
    .with_scoring(scoring.into())
    .with_assignment(assignment.into());
    MatchSpec::compile(&body.field_mappings, settings, &column_names)
        .map_err(|e| ApiError::validation(e.path, e.message))?;
    Ok(ValidConfig {
        name,
        field_mappings: body.field_mappings.clone(),
        settings,
        scoring,
        assignment,
    })
}

#[utoipa::path(
    post,
    path = "/v1/matching/configs",
    tag = "matching",
    operation_id = "create_config",
    summary = "Create a matching config",
    security(("api_key" = ["write"])),
    request_body(content = ConfigBody, description = "Field mappings onto a dataset's columns, validated against them."),
    responses(
        (status = 201, description = "The config, version 1.", body = MatchingConfigView, headers(("Location" = String))),
        (status = 409, description = "`reference_data_deleted`: the dataset was deleted.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn create_config(
    auth: Authorized<Write>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: ConfigBody = parse_json(&body)?;
    let dataset_id = body
        .reference_data_id
        .map(ReferenceDatasetId::from)
        .ok_or_else(|| ApiError::validation("reference_data_id", "is required"))?;
    let mut conn = connection(&state.pool).await?;
    let defaults = Defaults {
        scoring: Scoring::Probabilistic,
        assignment: Assignment::Independent,
    };
    let valid = validate(&mut conn, &auth, dataset_id, body, defaults).await?;
    let config = MatchingConfig::insert(
        &mut conn,
        NewMatchingConfig {
            id: MatchingConfigId::generate(),
            organization_id: auth.organization_id,
            name: valid.name,
            reference_data_id: dataset_id,
            field_mappings: concord_models::Json(valid.field_mappings),
            threshold: valid.settings.threshold,
            review_floor: valid.settings.review_floor,
            ambiguity_margin: valid.settings.ambiguity_margin,
            scoring: valid.scoring,
            assignment: valid.assignment,
        },
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/matching/configs/{}", config.id),
        ))
        .json(MatchingConfigView::from(config)))
}

#[utoipa::path(
    get,
    path = "/v1/matching/configs/{id}",
    tag = "matching",
    operation_id = "get_config",
    summary = "A matching config",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The config's id.")),
    responses(
        (status = 200, description = "The config at its latest version.", body = MatchingConfigView),
    ),
)]
async fn get_config(
    auth: Authorized<Read>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<MatchingConfigId>(&path)?;
    let mut conn = connection(&state.pool).await?;
    let config = MatchingConfig::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("matching config", path.as_str()))?;
    Ok(HttpResponse::Ok().json(MatchingConfigView::from(config)))
}

#[utoipa::path(
    get,
    path = "/v1/matching/configs",
    tag = "matching",
    operation_id = "list_configs",
    summary = "Matching configs, newest first",
    security(("api_key" = ["read"])),
    params(crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of configs.", body = Page<MatchingConfigView>),
    ),
)]
async fn list_configs(
    auth: Authorized<Read>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let before: Option<MatchingConfigId> = page.after_as()?;
    let mut conn = connection(&state.pool).await?;
    let rows =
        MatchingConfig::list(&mut conn, auth.organization_id, before, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |config| config.id.to_string(),
        MatchingConfigView::from,
    )))
}

/// `PUT`: replaces the config (a new version). The dataset is fixed after creation.
#[utoipa::path(
    put,
    path = "/v1/matching/configs/{id}",
    tag = "matching",
    operation_id = "replace_config",
    summary = "Replace a matching config: a new version",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The config's id.")),
    request_body(content = ConfigBody, description = "The whole config; `reference_data_id` may be repeated but not changed."),
    responses(
        (status = 200, description = "The config at its new version.", body = MatchingConfigView),
    ),
)]
async fn replace_config(
    auth: Authorized<Write>,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<MatchingConfigId>(&path)?;
    let body: ConfigBody = parse_json(&body)?;
    let mut conn = connection(&state.pool).await?;
    let existing = MatchingConfig::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("matching config", path.as_str()))?;
    if let Some(given) = body.reference_data_id {
        if ReferenceDatasetId::from(given) != existing.reference_data_id {
            return Err(ApiError::validation(
                "reference_data_id",
                format!(
                    "is fixed after creation (this config matches against `{}`); create a new config for another dataset",
                    existing.reference_data_id
                ),
            ));
        }
    }
    let defaults = Defaults {
        scoring: existing.scoring,
        assignment: existing.assignment,
    };
    let valid = validate(&mut conn, &auth, existing.reference_data_id, body, defaults).await?;
    let config = MatchingConfig::update(
        &mut conn,
        auth.organization_id,
        id,
        MatchingConfigUpdate {
            name: valid.name,
            field_mappings: concord_models::Json(valid.field_mappings),
            threshold: valid.settings.threshold,
            review_floor: valid.settings.review_floor,
            ambiguity_margin: valid.settings.ambiguity_margin,
            scoring: valid.scoring,
            assignment: valid.assignment,
        },
    )
    .await?
    .ok_or_else(|| ApiError::not_found("matching config", path.as_str()))?;
    Ok(HttpResponse::Ok().json(MatchingConfigView::from(config)))
}

#[utoipa::path(
    delete,
    path = "/v1/matching/configs/{id}",
    tag = "matching",
    operation_id = "delete_config",
    summary = "Delete a matching config",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The config's id.")),
    responses(
        (status = 204, description = "Deleted; its runs stay."),
    ),
)]
async fn delete_config(
    auth: Authorized<Write>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<MatchingConfigId>(&path)?;
    let mut conn = connection(&state.pool).await?;
    if MatchingConfig::delete(&mut conn, auth.organization_id, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("matching config", path.as_str()))
    }
}
