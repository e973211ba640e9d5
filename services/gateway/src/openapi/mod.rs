//! The OpenAPI 3.1 document of the API, generated from the code: each handler carries its
//! `#[utoipa::path]` (method, path, scope, parameters, body, responses), each view and body its
//! `#[derive(ToSchema)]`, so the types that serialise the answers are the ones described. Served
//! at `GET /openapi.json`, and read by the docs page at `GET /docs` (its HTML, script and style
//! are compiled in: nothing is fetched from elsewhere).
//!
//! What every operation shares is added here once ([`Conventions`]): the bearer scheme, the
//! refusals any `/v1` request can meet (401, 403, 422 for a bad query, 429, 500) and any request
//! of a reconciliation service (401, 409, 429, 500), those of a
//! request with a body (400, 413, 415) or an id in its path (404), and `Idempotency-Key` on
//! every `POST`. A handler's own attribute names only what is its own: its scope, its 404s and
//! 409s. CODE_STYLE.md, "A new endpoint", says how one is documented.

pub mod errors;
pub mod links;
pub mod schemas;

use actix_web::http::header::{self, CacheDirective};
use actix_web::{web, HttpResponse};
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HttpMethod, OpenApi as Document, PathItem, Required, ResponseBuilder,
};
use utoipa::{IntoParams, Modify, OpenApi};

/// The name of the bearer scheme in the document; an operation lists the scope it needs under it.
pub const SECURITY_SCHEME: &str = "api_key";

/// `?limit=&cursor=` of every list.
#[allow(dead_code)] // parameters: never built, only described
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u16>,
    /// The `pagination.next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `?version=N`: an earlier version of a versioned resource (default: the latest).
#[allow(dead_code)] // parameters: never built, only described
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// The version to read (1 = the first).
    #[param(minimum = 1)]
    pub version: Option<i32>,
}

/// `?delimiter=&encoding=` of a CSV upload (each detected when left out).
#[allow(dead_code)] // parameters: never built, only described
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvFormatQuery {
    /// `comma`, `semicolon` or `tab` (or the character itself).
    pub delimiter: Option<String>,
    /// `utf-8`, `latin-1` or `windows-1252`.
    pub encoding: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Concord",
        description = "Self-hosted resolution and matching of the data that upstream systems extract from business documents. Every `/v1` request carries `Authorization: Bearer <key>`; an operation names the scope it needs (`read`, `write`, `admin`) under its security requirement. Every refusal answers in one envelope (`ErrorEnvelope`), its `code` one of the table `x-error-codes`, each with a fixed status. Lists are paginated with `?limit=&cursor=`; any `POST` may carry `Idempotency-Key`; every response carries `X-Request-Id` and, under `/v1`, `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::jobs::routes::create_job,
        crate::jobs::routes::list_jobs,
        crate::jobs::routes::get_job,
        crate::jobs::routes::list_documents,
        crate::reference_data::routes::create_dataset,
        crate::reference_data::routes::list_datasets,
        crate::reference_data::routes::get_dataset,
        crate::reference_data::routes::delete_dataset,
        crate::reference_data::routes::list_rows,
        crate::reference_data::routes::export_dataset,
        crate::matching::configs::create_config,
        crate::matching::configs::list_configs,
        crate::matching::configs::get_config,
        crate::matching::configs::replace_config,
        crate::matching::configs::delete_config,
        crate::matching::models::get_model,
        crate::matching::models::train,
        crate::matching::runs::start_run,
        crate::matching::realtime::match_document,
        crate::matching::runs::start_smart_run,
        crate::matching::runs::list_runs,
        crate::matching::runs::get_run,
        crate::matching::runs::get_progress,
        crate::matching::runs::cancel_run,
        crate::matching::runs::ai_resolve,
        crate::matching::runs::list_results,
        crate::matching::runs::export_results,
        crate::matching::runs::review_result,
        crate::lookup_tables::routes::create_table,
        crate::lookup_tables::routes::list_tables,
        crate::lookup_tables::routes::get_table,
        crate::lookup_tables::routes::list_entries,
        crate::lookup_tables::routes::replace_table,
        crate::lookup_tables::routes::delete_table,
        crate::policies::create_policy,
        crate::policies::list_policies,
        crate::policies::get_policy,
        crate::policies::replace_policy,
        crate::policies::delete_policy,
        crate::policies::get_fields,
        crate::policies::get_rules,
        crate::dialects::create_dialect,
        crate::dialects::list_dialects,
        crate::dialects::get_dialect,
        crate::dialects::update_dialect,
        crate::dialects::delete_dialect,
        crate::resolutions::runs::create_run,
        crate::resolutions::runs::list_runs,
        crate::resolutions::runs::get_run,
        crate::resolutions::runs::execute_run,
        crate::resolutions::runs::list_results,
        crate::resolutions::export::export_results,
        crate::keys::create,
        crate::keys::list,
        crate::keys::revoke,
        crate::webhooks::routes::create_webhook,
        crate::webhooks::routes::list_webhooks,
        crate::webhooks::routes::get_webhook,
        crate::webhooks::routes::update_webhook,
        crate::webhooks::routes::delete_webhook,
        crate::webhooks::routes::list_deliveries,
        crate::webhooks::routes::get_delivery,
        crate::webhooks::routes::redeliver,
        crate::reconcile::tokens::create,
        crate::reconcile::tokens::list,
        crate::reconcile::tokens::revoke,
        crate::reconcile::service::manifest_or_queries,
        crate::reconcile::service::queries,
        crate::reconcile::service::suggest_entity,
        crate::reconcile::service::suggest_property,
        crate::reconcile::service::preview,
        openapi_json,
        docs_page,
        docs_asset,
    ),
    components(schemas(errors::ErrorEnvelope)),
    modifiers(&Conventions),
    tags(
        (name = "jobs", description = "Batches of documents with their extracted values: JSON, or NDJSON streamed in bounded memory."),
        (name = "reference data", description = "Datasets that documents are matched against: JSON, CSV or multipart uploads, column types inferred."),
        (name = "matching", description = "Configs mapping documents onto a dataset, their trained models, runs (matched in chunks by the workers), results, reviews and exports."),
        (name = "lookup tables", description = "Vocabularies that data policies look values up in: the built-in ISO and UN/ECE tables and the organisation's own."),
        (name = "data policies", description = "How each output field of a document is derived from its raw values; versioned."),
        (name = "dialects", description = "Output formats that resolution results are rendered and exported in; versioned."),
        (name = "resolutions", description = "Runs of a data policy over a completed job run, and their results."),
        (name = "api keys", description = "The organisation's keys (admin)."),
        (name = "reconciliation", description = "The W3C Reconciliation Service API 0.2 over a matching config, for OpenRefine: read-only tokens that ride in the service URL, the service's manifest, queries, suggest and preview."),
        (name = "webhooks", description = "Endpoints the organisation's events are delivered to, signed (Standard Webhooks); their delivery log and redelivery."),
        (name = "ops", description = "Liveness, readiness, metrics and this documentation: no key."),
    ),
)]
pub struct ApiDoc;

/// The document as utoipa builds it.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// The document as served: utoipa's, with the links between operations ([`links`]).
pub fn document_json() -> Result<serde_json::Value, serde_json::Error> {
    let mut json = serde_json::to_value(document())?;
    links::add(&mut json);
    Ok(json)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi_json))
        .route("/docs", web::get().to(docs_page))
        .route("/docs/{asset}", web::get().to(docs_asset));
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "ops",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document (this one).", content_type = "application/json", body = Object)),
)]
async fn openapi_json() -> Result<HttpResponse, crate::error::ApiError> {
    let json = document_json().map_err(crate::error::ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![CacheDirective::NoCache]))
        .json(json))
}

const DOCS_HTML: &str = include_str!("docs/index.html");
const DOCS_JS: &str = include_str!("docs/docs.js");
const DOCS_CSS: &str = include_str!("docs/docs.css");

/// The browsable documentation: a page that renders `/openapi.json` with the script and style
/// below it (served here, nothing from elsewhere).
#[utoipa::path(
    get,
    path = "/docs",
    tag = "ops",
    operation_id = "docs",
    responses((status = 200, description = "The documentation page.", content_type = "text/html", body = String)),
)]
async fn docs_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .body(DOCS_HTML)
}

/// Only this origin: the page works on a machine without internet, and cannot reach one.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The docs page's script (`docs.js`) and style (`docs.css`).
#[utoipa::path(
    get,
    path = "/docs/{asset}",
    tag = "ops",
    operation_id = "docs_asset",
    params(("asset" = String, Path, description = "`docs.js` or `docs.css`.")),
    responses(
        (status = 200, description = "The asset.", content(("text/javascript"), ("text/css"))),
        (status = 404, description = "`not_found`: no such asset.", body = errors::ErrorEnvelope),
    ),
)]
async fn docs_asset(path: web::Path<String>) -> Result<HttpResponse, crate::error::ApiError> {
    let (content_type, body) = match path.as_str() {
        "docs.js" => ("text/javascript; charset=utf-8", DOCS_JS),
        "docs.css" => ("text/css; charset=utf-8", DOCS_CSS),
        other => return Err(crate::error::ApiError::not_found("docs asset", other)),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(header::CacheControl(vec![CacheDirective::NoCache]))
        .body(body))
}

/// What every operation shares, added once (see the module's documentation).
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cnc_…")
                    .description(Some(
                        "An API key (`gateway keys create --org … --scopes read,write`, or `POST /v1/api-keys` with an admin key). Keys have scopes `read`, `write` and `admin`; each operation lists the one it needs.",
                    ))
                    .build(),
            ),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let v1 = path.starts_with("/v1/");
            let has_id = path.contains('{');
            let reconciliation = path.starts_with("/reconcile/");
            for (method, operation) in operations(item) {
                if v1 {
                    v1_refusals(operation, method, has_id);
                }
                if reconciliation {
                    reconciliation_refusals(operation);
                }
            }
        }
        add_ops_paths(openapi);
        let extensions = openapi.extensions.get_or_insert_with(Default::default);
        extensions.merge(
            ExtensionsBuilder::new()
                .add("x-error-codes", errors::table())
                .build(),
        );
    }
}

fn operations(item: &mut PathItem) -> Vec<(HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, item.get.as_mut()),
        (HttpMethod::Post, item.post.as_mut()),
        (HttpMethod::Put, item.put.as_mut()),
        (HttpMethod::Patch, item.patch.as_mut()),
        (HttpMethod::Delete, item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
    .collect()
}

/// The refusals any operation of a reconciliation service can give (its token is the
/// credential), added where its attribute did not say more.
fn reconciliation_refusals(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    for (status, description) in [
        (401, "`unauthorized`: the token is unknown or revoked."),
        (409, "`reference_data_deleted` (the config's dataset was deleted) or `query_field_removed` (the config no longer has the token's query field)."),
        (429, "`rate_limited`: over the token's rate limit; `Retry-After` says when to retry."),
        (500, "`internal_error`: a failure of ours; the `request_id` finds it in the logs."),
    ] {
        responses
            .entry(status.to_string())
            .or_insert_with(|| errors::response(status, description).into());
    }
}

/// The refusals any `/v1` operation can give, added where its attribute did not say more.
fn v1_refusals(operation: &mut Operation, method: HttpMethod, has_id: bool) {
    let has_body = operation.request_body.is_some();
    let responses = &mut operation.responses.responses;
    let mut add = |status: u16, description: &str| {
        responses
            .entry(status.to_string())
            .or_insert_with(|| errors::response(status, description).into());
    };
    add(401, "`unauthorized`: no key, an unknown or a revoked key.");
    add(
        403,
        "`insufficient_scope`: the key lacks the operation's scope (`details.required_scope`).",
    );
    add(
        422,
        "`validation_failed`: a parameter or a body field breaks a rule; `details.field` names it.",
    );
    add(
        429,
        "`rate_limited`: over the key's rate limit; `Retry-After` says when to retry.",
    );
    add(
        500,
        "`internal_error`: a failure of ours; the `request_id` finds it in the logs.",
    );
    if has_id {
        add(
            404,
            "`not_found`: no such resource in the key's organisation (another organisation's, deleted, never created).",
        );
    }
    if has_body {
        add(
            400,
            "`malformed_json` (with `details.line` and `details.column`) or `bad_request` (the body could not be read).",
        );
        add(
            413,
            "`payload_too_large`: the body is larger than the endpoint reads (`details.limit_bytes`).",
        );
        add(
            415,
            "`unsupported_media_type`: a content type the endpoint does not read.",
        );
    }
    if method == HttpMethod::Post {
        let idempotency = "`idempotency_key_in_use` (a request with this `Idempotency-Key` is still being handled) or `idempotency_key_reused` (the key was used for another request).";
        match operation.responses.responses.get_mut("409") {
            Some(utoipa::openapi::RefOr::T(response)) => {
                response.description = format!("{} Or {idempotency}", response.description);
            }
            Some(utoipa::openapi::RefOr::Ref(_)) => {}
            None => {
                operation
                    .responses
                    .responses
                    .insert("409".to_owned(), errors::response(409, idempotency).into());
            }
        }
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(
                ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "A repeat within 24 h (same method, path, query and body) gets the first response back (`Idempotent-Replayed: true`) and creates nothing.",
                    ))
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .min_length(Some(1))
                            .max_length(Some(255)),
                    ))
                    .build(),
            );
    }
}

/// `/healthz`, `/readyz` and `/metrics`: served by `concord-telemetry` (the same routes in every
/// service), so written here rather than on a handler of the gateway.
fn add_ops_paths(openapi: &mut Document) {
    let status = |values: &[&str]| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(values.to_vec())),
            )
            .required("status")
            .property("reason", ObjectBuilder::new().schema_type(Type::String))
            .build()
    };
    let json = |description: &str, values: &[&str]| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(status(values))).build(),
            )
            .build()
    };
    let get =
        |operation_id: &str, summary: &str, responses: Vec<(u16, utoipa::openapi::Response)>| {
            let mut builder = utoipa::openapi::path::OperationBuilder::new()
                .operation_id(Some(operation_id))
                .summary(Some(summary))
                .tag("ops");
            for (code, response) in responses {
                builder = builder.response(code.to_string(), response);
            }
            PathItem::new(HttpMethod::Get, builder.build())
        };
    let paths = &mut openapi.paths.paths;
    paths.insert(
        "/healthz".to_owned(),
        get(
            "healthz",
            "Liveness: the process answers.",
            vec![(200, json("Alive.", &["ok"]))],
        ),
    );
    paths.insert(
        "/readyz".to_owned(),
        get(
            "readyz",
            "Readiness: the database and the broker are reachable.",
            vec![
                (200, json("Ready.", &["ready"])),
                (
                    503,
                    json(
                        "Not ready: `reason` says which part is unreachable.",
                        &["unavailable"],
                    ),
                ),
            ],
        ),
    );
    paths.insert(
        "/metrics".to_owned(),
        get(
            "metrics",
            "Prometheus metrics (text exposition format).",
            vec![(
                200,
                ResponseBuilder::new()
                    .description("The metrics.")
                    .content(
                        "text/plain",
                        ContentBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                            .build(),
                    )
                    .build(),
            )],
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json() -> serde_json::Value {
        document_json().expect("the document serialises")
    }

    #[test]
    fn the_document_is_openapi_3_1_and_every_v1_operation_names_its_scope_and_refusals() {
        let doc = json();
        if let Ok(path) = std::env::var("CONCORD_OPENAPI_DUMP") {
            std::fs::write(path, serde_json::to_string_pretty(&doc).expect("json"))
                .expect("written");
        }
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("a path item") {
                let id = operation["operationId"].as_str().expect("an operation id");
                assert!(ids.insert(id.to_owned()), "{id} twice");
                if !path.starts_with("/v1/") {
                    assert!(operation.get("security").is_none(), "{method} {path}");
                    continue;
                }
                let scopes = &operation["security"][0][SECURITY_SCHEME];
                let scope = scopes[0].as_str().unwrap_or("");
                assert!(
                    ["read", "write", "admin"].contains(&scope),
                    "{method} {path}: {scopes}"
                );
                for status in ["401", "403", "422", "429", "500"] {
                    assert!(
                        operation["responses"].get(status).is_some(),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_error_code_schema_and_table_list_every_code_with_its_status() {
        let doc = json();
        let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .expect("an enum");
        assert_eq!(codes.len(), crate::error::ErrorCode::ALL.len());
        let table = doc["x-error-codes"].as_array().expect("the table");
        for code in crate::error::ErrorCode::ALL {
            let row = table
                .iter()
                .find(|row| row["code"] == code.as_str())
                .expect("a row per code");
            assert_eq!(row["status"], code.status().as_u16());
        }
    }
}
