//! `/v1/data-policies`: how each output field of a document is derived from its raw values.
//! A policy is created with a name and a description, then given its `fields` and `rules` by
//! `PUT` (each `PUT` a new version; older versions stay readable with `?version=N`). Saving
//! compiles the rules in the scoring core — dependency order, cycles, unknown fields, unknown
//! lookup tables, bad configs — so a stored policy is one the workers can run; every problem is
//! answered at once with a 422 naming its rule.

use std::collections::HashSet;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use concord_models::data_policies::{DataPolicy, DataPolicyUpdate, NewDataPolicy};
use concord_models::database::connection;
use concord_models::ids::{DataPolicyId, OrganizationId};
use concord_models::json::Json;
use concord_scoring::policy::{CompiledPolicy, FieldSpec, PolicyDocument, PolicyError, RuleSpec};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{Authorized, Read, Write};
use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, path_id, RequestedVersion};
use crate::lookup_tables;
use crate::names::{Description, Name, Patch};
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/data-policies")
            .route(web::post().to(create_policy))
            .route(web::get().to(list_policies)),
    )
    .service(
        web::resource("/data-policies/{id}")
            .route(web::get().to(get_policy))
            .route(web::put().to(replace_policy))
            .route(web::delete().to(delete_policy)),
    )
    .route("/data-policies/{id}/fields", web::get().to(get_fields))
    .route("/data-policies/{id}/rules", web::get().to(get_rules));
}

/// A data policy at one version: its output fields and the rules deriving them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "01938f71-0000-7000-8000-0000000000bb", "name": "Invoice header", "description": "What the ERP import needs", "version": 2, "fields": [{"field_key": "currency", "type": "code"}], "rules": [{"rule_type": "lookup", "target_field": "currency", "config": {"source_field": "currency", "table": "iso-4217"}}], "created_at": "2026-03-31T09:00:00Z", "updated_at": "2026-03-31T09:05:00Z", "links": {"self": "/v1/data-policies/01938f71-0000-7000-8000-0000000000bb", "fields": "/v1/data-policies/01938f71-0000-7000-8000-0000000000bb/fields", "rules": "/v1/data-policies/01938f71-0000-7000-8000-0000000000bb/rules"}}))]
pub struct DataPolicyView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub version: i32,
    #[schema(value_type = Vec<crate::openapi::schemas::FieldSpecSchema>)]
    pub fields: Vec<FieldSpec>,
    #[schema(value_type = Vec<crate::openapi::schemas::RuleSpecSchema>)]
    pub rules: Vec<RuleSpec>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub links: Value,
}

impl From<DataPolicy> for DataPolicyView {
    fn from(policy: DataPolicy) -> Self {
        let id = policy.id.to_string();
        Self {
            links: json!({
                "self": format!("/v1/data-policies/{id}"),
                "fields": format!("/v1/data-policies/{id}/fields"),
                "rules": format!("/v1/data-policies/{id}/rules"),
            }),
            id,
            name: policy.name,
            description: policy.description,
            version: policy.version,
            fields: policy.fields.0,
            rules: policy.rules.0,
            created_at: policy.created_at,
            updated_at: policy.updated_at,
        }
    }
}

fn policy_problems(errors: Vec<PolicyError>) -> ApiError {
    ApiError::ValidationList(
        errors
            .into_iter()
            .map(|e| Problem {
                field: e.path,
                message: e.message,
            })
            .collect(),
    )
}

/// `POST /v1/data-policies`: a policy's name, and its first fields and rules when given.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewDataPolicyRequest, example = json!({"name": "Invoice header", "description": "What the ERP import needs", "fields": [{"field_key": "currency", "type": "code"}], "rules": [{"rule_type": "lookup", "target_field": "currency", "config": {"source_field": "currency", "table": "iso-4217"}}]}))]
struct NewPolicyBody {
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    name: Name,
    /// At most 2,000 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 2000)]
    description: Option<Description>,
    /// Read by the core's policy parser, which names each problem's path; none when absent.
    #[serde(default = "no_items")]
    #[schema(value_type = Vec<crate::openapi::schemas::FieldSpecSchema>)]
    fields: Value,
    #[serde(default = "no_items")]
    #[schema(value_type = Vec<crate::openapi::schemas::RuleSpecSchema>)]
    rules: Value,
}

fn no_items() -> Value {
    Value::Array(Vec::new())
}

/// `PUT /v1/data-policies/{id}`: the full fields and rules of the new version.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DataPolicyVersionRequest)]
struct PolicyVersionBody {
    /// A new name (absent: unchanged).
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    name: Option<Name>,
    /// A new description (absent: unchanged; null: none).
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 2000)]
    description: Patch<Description>,
    #[schema(value_type = Vec<crate::openapi::schemas::FieldSpecSchema>)]
    fields: Value,
    #[schema(value_type = Vec<crate::openapi::schemas::RuleSpecSchema>)]
    rules: Value,
}

/// Compiles `fields` and `rules` against the organisation's lookup tables (and the built-in
/// ones): the normalised JSON to store, or every problem.
pub async fn compile(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    fields: &Value,
    rules: &Value,
) -> Result<(Json<Vec<FieldSpec>>, Json<Vec<RuleSpec>>), ApiError> {
    let document = PolicyDocument::from_json(&json!({ "fields": fields, "rules": rules }))
        .map_err(policy_problems)?;
    let names = document.lookup_tables();
    let known: HashSet<String> = lookup_tables::find_names(conn, organization_id, &names)
        .await?
        .into_iter()
        .flatten()
        .map(|table| table.name)
        .collect();
    CompiledPolicy::compile(&document, &|name| known.contains(name)).map_err(policy_problems)?;
    Ok((Json(document.fields), Json(document.rules)))
}

/// `POST /v1/data-policies` `{name, description?, fields?, rules?}`: version 1.
#[utoipa::path(
    post,
    path = "/v1/data-policies",
    tag = "data policies",
    operation_id = "create_policy",
    summary = "Create a data policy",
    security(("api_key" = ["write"])),
    request_body(content = NewPolicyBody, description = "Its name, and its first fields and rules when given; the rules are compiled, every problem answered at once (422 naming each rule)."),
    responses(
        (status = 201, description = "The policy, version 1.", body = DataPolicyView, headers(("Location" = String))),
    ),
)]
async fn create_policy(
    auth: Authorized<Write>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: NewPolicyBody = parse_json(&body)?;
    let organization_id = auth.organization_id;
    let mut conn = connection(&state.pool).await?;
    let (fields, rules) = compile(&mut conn, organization_id, &body.fields, &body.rules).await?;
    let name = body.name.into_string();
    let description = body.description.map(Description::into_string);
    let policy = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            Ok(DataPolicy::insert(
                conn,
                NewDataPolicy {
                    id: DataPolicyId::generate(),
                    organization_id,
                    name,
                    description,
                    fields,
                    rules,
                },
            )
            .await?)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/data-policies/{}", policy.id),
        ))
        .json(DataPolicyView::from(policy)))
}

/// `PUT /v1/data-policies/{id}` `{fields, rules, name?, description?}`: a new version.
#[utoipa::path(
    put,
    path = "/v1/data-policies/{id}",
    tag = "data policies",
    operation_id = "replace_policy",
    summary = "Replace a policy's fields and rules: a new version",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The policy's id.")),
    request_body(content = PolicyVersionBody),
    responses(
        (status = 200, description = "The policy at its new version.", body = DataPolicyView),
    ),
)]
async fn replace_policy(
    auth: Authorized<Write>,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<DataPolicyId>(&path)?;
    let body: PolicyVersionBody = parse_json(&body)?;
    let name = body.name.map(Name::into_string);
    let description = body
        .description
        .into_update()
        .map(|d| d.map(Description::into_string));
    let organization_id = auth.organization_id;
    let mut conn = connection(&state.pool).await?;
    if DataPolicy::find(&mut conn, organization_id, id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("data policy", id.to_string()));
    }
    let (fields, rules) = compile(&mut conn, organization_id, &body.fields, &body.rules).await?;
    let policy = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            DataPolicy::update(
                conn,
                organization_id,
                id,
                DataPolicyUpdate {
                    name,
                    description,
                    fields,
                    rules,
                },
            )
            .await?
            .ok_or_else(|| ApiError::not_found("data policy", id.to_string()))
        })
        .await?;
    Ok(HttpResponse::Ok().json(DataPolicyView::from(policy)))
}

/// The policy as it is, or as it was at `?version=N`.
async fn find_policy(
    state: &AppState,
    auth: &Authorized<Read>,
    raw_id: &str,
    RequestedVersion(version): RequestedVersion,
) -> Result<DataPolicy, ApiError> {
    let id = path_id::<DataPolicyId>(raw_id)?;
    let mut conn = connection(&state.pool).await?;
    let mut policy = DataPolicy::find(&mut conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("data policy", id.to_string()))?;
    if let Some(version) = version {
        let old = DataPolicy::find_version(&mut conn, id, version)
            .await?
            .ok_or_else(|| {
                ApiError::not_found("data policy version", format!("{id} v{version}"))
            })?;
        policy.version = old.version;
        policy.fields = old.fields;
        policy.rules = old.rules;
        policy.updated_at = old.created_at;
    }
    Ok(policy)
}

#[utoipa::path(
    get,
    path = "/v1/data-policies/{id}",
    tag = "data policies",
    operation_id = "get_policy",
    summary = "A data policy",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The policy's id."), crate::openapi::VersionQuery),
    responses(
        (status = 200, description = "The policy at the version asked (else the latest).", body = DataPolicyView),
    ),
)]
async fn get_policy(
    auth: Authorized<Read>,
    path: web::Path<String>,
    version: RequestedVersion,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let policy = find_policy(&state, &auth, &path, version).await?;
    Ok(HttpResponse::Ok().json(DataPolicyView::from(policy)))
}

/// One part of a policy version (`/fields`, `/rules`).
#[derive(Debug, Serialize)]
pub struct PolicyPartView<T: Serialize> {
    pub policy_id: String,
    pub version: i32,
    pub data: T,
}

impl<T: Serialize> PolicyPartView<T> {
    fn of(policy: &DataPolicy, data: T) -> Self {
        Self {
            policy_id: policy.id.to_string(),
            version: policy.version,
            data,
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/data-policies/{id}/fields",
    tag = "data policies",
    operation_id = "get_policy_fields",
    summary = "A policy version's fields",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The policy's id."), crate::openapi::VersionQuery),
    responses(
        (status = 200, description = "Its fields.", body = crate::openapi::schemas::PolicyFieldsSchema),
    ),
)]
async fn get_fields(
    auth: Authorized<Read>,
    path: web::Path<String>,
    version: RequestedVersion,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let policy = find_policy(&state, &auth, &path, version).await?;
    Ok(HttpResponse::Ok().json(PolicyPartView::of(&policy, policy.fields.0.clone())))
}

#[utoipa::path(
    get,
    path = "/v1/data-policies/{id}/rules",
    tag = "data policies",
    operation_id = "get_policy_rules",
    summary = "A policy version's rules",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The policy's id."), crate::openapi::VersionQuery),
    responses(
        (status = 200, description = "Its rules.", body = crate::openapi::schemas::PolicyRulesSchema),
    ),
)]
async fn get_rules(
    auth: Authorized<Read>,
    path: web::Path<String>,
    version: RequestedVersion,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let policy = find_policy(&state, &auth, &path, version).await?;
    Ok(HttpResponse::Ok().json(PolicyPartView::of(&policy, policy.rules.0.clone())))
}

#[utoipa::path(
    get,
    path = "/v1/data-policies",
    tag = "data policies",
    operation_id = "list_policies",
    summary = "Data policies, newest first",
    security(("api_key" = ["read"])),
    params(crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of policies.", body = Page<DataPolicyView>),
    ),
)]
async fn list_policies(
    auth: Authorized<Read>,
    page: PageRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let before: Option<DataPolicyId> = page.after_as()?;
    let mut conn = connection(&state.pool).await?;
    let rows =
        DataPolicy::list(&mut conn, auth.organization_id, before, page.fetch_limit()).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |policy| policy.id.to_string(),
        DataPolicyView::from,
    )))
}

#[utoipa::path(
    delete,
    path = "/v1/data-policies/{id}",
    tag = "data policies",
    operation_id = "delete_policy",
    summary = "Delete a data policy",
    security(("api_key" = ["write"])),
    params(("id" = uuid::Uuid, Path, description = "The policy's id.")),
    responses(
        (status = 204, description = "Deleted; runs keep their snapshot."),
    ),
)]
async fn delete_policy(
    auth: Authorized<Write>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<DataPolicyId>(&path)?;
    let mut conn = connection(&state.pool).await?;
    if DataPolicy::delete(&mut conn, auth.organization_id, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("data policy", id.to_string()))
    }
}
