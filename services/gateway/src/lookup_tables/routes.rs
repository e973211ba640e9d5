//! The `/v1/lookup-tables` handlers (see the module documentation for the contract).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use concord_models::database::connection;
use concord_models::ids::LookupTableId;
use concord_models::lookup_tables::{LookupTable, LookupTableVersion, NewLookupTable};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::standard::{self, BuiltIn};
use super::upload::{
    read_csv, read_json, read_multipart, Upload, UploadParams, MAX_DESCRIPTION_CHARS,
};
use super::view::{table_path, EntryView, TableView};
use crate::auth::{Authenticated, Authorized, Read, Write};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{content_type, media_type, param, read_limited, RequestedVersion};
use crate::names::Name;
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

const RESOURCE: &str = "lookup table";
/// Longest table name.
pub const MAX_NAME_CHARS: usize = 100;
/// How a built-in table's place in the list is written in a cursor.
const BUILT_IN_CURSOR: &str = "built-in:";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/lookup-tables")
            .route(web::post().to(create_table))
            .route(web::get().to(list_tables)),
    )
    .service(
        web::resource("/lookup-tables/{id}")
            .route(web::get().to(get_table))
            .route(web::put().to(replace_table))
            .route(web::delete().to(delete_table)),
    )
    .route("/lookup-tables/{id}/entries", web::get().to(list_entries));
}

// --- checks --------------------------------------------------------------------------------

fn name_taken(message: String) -> ApiError {
    ApiError::Conflict {
        code: ErrorCode::NameTaken,
        message,
    }
}

fn read_only(name: &str) -> ApiError {
    ApiError::Conflict {
        code: ErrorCode::ReadOnly,
        message: format!(
            "`{name}` is a built-in table and is read-only; create a table of your own that `extends` it to add entries"
        ),
    }
}

/// A table name: 1 to 100 characters of `A-Z a-z 0-9 _ . -` (surrounding blanks trimmed), not the
/// name of a built-in table (in any letter case).
pub fn check_name(raw: Option<&str>) -> Result<String, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::validation("name", "`name` is required"))?;
    let name = Name::parse("name", raw)?;
    let name = name.as_str();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::validation(
            "name",
            format!("`name` must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(ApiError::validation(
            "name",
            format!(
                "`name` may only hold letters A-Z and a-z, digits, `_`, `.` and `-` (found `{}`)",
                bad.escape_default()
            ),
        ));
    }
    if let Some(built_in) = standard::find_ignoring_case(name) {
        return Err(name_taken(format!(
            "`{name}` is the name of the built-in table `{}`; choose another name (a table can extend a built-in one with `extends`)",
            built_in.name
        )));
    }
    Ok(name.to_owned())
}

/// `extends`: absent or empty for none, else the exact name of a built-in table.
fn check_extends(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(name) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    match standard::find(name) {
        Some(table) => Ok(Some(table.name.to_owned())),
        None => Err(ApiError::validation(
            "extends",
            format!(
                "`extends` must name a built-in table ({}), got `{name}`",
                standard::names()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

fn check_description(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(text) = raw.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::validation(
            "description",
            format!("`description` must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}

/// A body's description, extends and entries, checked.
struct Contents {
    description: Option<String>,
    extends: Option<String>,
    entries: Vec<concord_models::lookup_tables::NewLookupEntry>,
}

fn check_contents(upload: Upload) -> Result<Contents, ApiError> {
    let description = check_description(upload.description.as_deref())?;
    let extends = check_extends(upload.extends.as_deref())?;
    if upload.entries.is_empty() && extends.is_none() {
        return Err(ApiError::validation(
            "entries",
            "a table needs at least one entry (unless it `extends` a built-in table)",
        ));
    }
    Ok(Contents {
        description,
        extends,
        entries: upload.entries,
    })
}

/// The body in any of the accepted formats, up to the gateway's body limit.
async fn read_upload(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    query: &UploadParams,
) -> Result<Upload, ApiError> {
    let limit = state.limits.max_json_body_bytes;
    match media_type(req).as_str() {
        "application/json" => read_json(&read_limited(payload, limit).await?),
        "text/csv" => read_csv(payload, limit, query).await,
        "multipart/form-data" => read_multipart(payload, limit, content_type(req), query).await,
        other => Err(ApiError::UnsupportedMediaType {
            given: other.to_owned(),
            accepted: "application/json, text/csv or multipart/form-data",
        }),
    }
}

/// What a path's `{id}` names.
enum Target {
    BuiltIn(BuiltIn),
    Table(LookupTableId),
}

fn target(raw: &str) -> Result<Target, ApiError> {
    if let Some(table) = standard::find(raw) {
        return Ok(Target::BuiltIn(table));
    }
    raw.parse()
        .map(Target::Table)
        .map_err(|_| ApiError::not_found(RESOURCE, raw))
}

fn version_not_found(raw_id: &str, version: i32) -> ApiError {
    ApiError::not_found(
        "lookup table version",
        format!("{raw_id}?version={version}"),
    )
}

/// The organisation's table at the requested (or latest) version, or 404.
async fn table_at(
    conn: &mut AsyncPgConnection,
    auth: &Authenticated,
    raw_id: &str,
    id: LookupTableId,
    version: Option<i32>,
) -> Result<(LookupTable, LookupTableVersion), ApiError> {
    let table = LookupTable::find(conn, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(RESOURCE, raw_id))?;
    let wanted = version.unwrap_or(table.version);
    let found = LookupTable::find_version(conn, id, wanted)
        .await?
        .ok_or_else(|| version_not_found(raw_id, wanted))?;
    Ok((table, found))
}

// --- handlers ------------------------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/v1/lookup-tables",
    tag = "lookup tables",
    operation_id = "create_lookup_table",
    summary = "Create a lookup table",
    security(("api_key" = ["write"])),
    params(("name" = Option<String>, Query, description = "The table's name (CSV and multipart; a JSON body carries its own): letters, digits, `-`, `_`, `.`."), ("description" = Option<String>, Query, description = "CSV and multipart."), ("extends" = Option<String>, Query, description = "A built-in table whose entries come first (CSV and multipart)."), crate::openapi::CsvFormatQuery),
    request_body(description = "JSON entries, or a CSV (`text/csv`: columns `code`, `label`, `aliases` split on `|`, the rest attributes), or a multipart form whose `file` part is the CSV.", content((crate::lookup_tables::upload::JsonUpload = "application/json"), (String = "text/csv", example = json!("code,label,aliases\nCC-100,Research,R&D|Lab\n")), ("multipart/form-data"))),
    responses(
        (status = 201, description = "The table, version 1.", body = TableView, headers(("Location" = String))),
        (status = 409, description = "`name_taken`: the organisation has a table of this name, or it is a built-in's.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn create_table(
    auth: Authorized<Write>,
    req: HttpRequest,
    payload: web::Payload,
    query: web::Query<UploadParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let upload = read_upload(&req, payload, &state, &query).await?;
    let name = check_name(upload.name.as_deref())?;
    let contents = check_contents(upload)?;
    let organization_id = auth.organization_id;
    let mut conn = connection(&state.pool).await?;
    let table = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            let taken = || {
                name_taken(format!(
                    "the organisation already has a lookup table named `{name}`"
                ))
            };
            if !LookupTable::find_by_names(conn, organization_id, &[name.as_str()])
                .await?
                .is_empty()
            {
                return Err(taken());
            }
            let new = NewLookupTable {
                id: LookupTableId::generate(),
                organization_id,
                name: name.clone(),
                description: contents.description,
                extends: contents.extends,
            };
            LookupTable::insert(conn, new, &contents.entries)
                .await
                .map_err(|e| {
                    if e.is_unique_violation() {
                        taken()
                    } else {
                        e.into()
                    }
                })
        })
        .await?;
    tracing::info!(table_id = %table.id, entries = table.entry_count, "lookup table created");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, table_path(table.id)))
        .json(TableView::latest(table)))
}

/// The list's rows: the built-in tables first, then the organisation's.
enum Listed {
    BuiltIn(BuiltIn),
    Table(LookupTable),
}

/// The filter of the tables list.
#[derive(Debug, serde::Deserialize)]
struct TableListParams {
    built_in: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/lookup-tables",
    tag = "lookup tables",
    operation_id = "list_lookup_tables",
    summary = "Lookup tables: the built-in ones first, then the organisation's",
    security(("api_key" = ["read"])),
    params(("built_in" = Option<bool>, Query, description = "Only built-in (`true`) or only the organisation's (`false`) tables."), crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of tables.", body = Page<TableView>),
    ),
)]
async fn list_tables(
    auth: Authorized<Read>,
    page: PageRequest,
    query: web::Query<TableListParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let built_in_filter =
        param::<bool>("built_in", query.built_in.as_deref(), "`true` or `false`")?;
    // Where the previous page ended: in the built-ins (their index) or the organisation's tables.
    let (built_ins_from, before) = match page.after.as_deref() {
        None => (Some(0), None),
        Some(cursor) => match cursor.strip_prefix(BUILT_IN_CURSOR) {
            Some(name) => {
                let index = standard::names().position(|n| n == name).ok_or_else(|| {
                    ApiError::validation("cursor", "cursor does not belong to this list")
                })?;
                (Some(index + 1), None)
            }
            None => (None, page.after_as::<LookupTableId>()?),
        },
    };
    let fetch = page.fetch_count();
    let mut rows: Vec<Listed> = Vec::new();
    if let (Some(from), true) = (built_ins_from, built_in_filter != Some(false)) {
        rows.extend(
            standard::tables()
                .skip(from)
                .take(fetch)
                .map(Listed::BuiltIn),
        );
    }
    if rows.len() < fetch && built_in_filter != Some(true) {
        let remaining =
            page.fetch_limit() - i64::try_from(rows.len()).map_err(ApiError::internal)?;
        let mut conn = connection(&state.pool).await?;
        rows.extend(
            LookupTable::list(&mut conn, auth.organization_id, before, remaining)
                .await?
                .into_iter()
                .map(Listed::Table),
        );
    }
    Ok(HttpResponse::Ok().json(Page::from_rows(
        &page,
        rows,
        |row| match row {
            Listed::BuiltIn(table) => format!("{BUILT_IN_CURSOR}{}", table.name),
            Listed::Table(table) => table.id.to_string(),
        },
        |row| match row {
            Listed::BuiltIn(table) => TableView::built_in(table),
            Listed::Table(table) => TableView::latest(table),
        },
    )))
}

/// A page of a table's entries (`?limit=&cursor=`); the cursor is the last entry's position.
async fn entries_page(
    conn: &mut AsyncPgConnection,
    page: &PageRequest,
    target: &Target,
    version: i32,
) -> Result<Page<EntryView>, ApiError> {
    match target {
        Target::BuiltIn(table) => {
            let from = page
                .after_as::<usize>()?
                .map_or(0, |after| after.saturating_add(1));
            let rows: Vec<(usize, EntryView)> = standard::entries(table.name)
                .enumerate()
                .skip(from)
                .take(page.fetch_count())
                .map(|(index, entry)| (index, EntryView::from(entry)))
                .collect();
            Ok(Page::from_rows(
                page,
                rows,
                |(index, _)| index.to_string(),
                |(_, entry)| entry,
            ))
        }
        Target::Table(id) => {
            let after: Option<i32> = page.after_as()?;
            let rows = LookupTable::entries(conn, *id, version, after, page.fetch_limit()).await?;
            Ok(Page::from_rows(
                page,
                rows,
                |entry| entry.position.to_string(),
                EntryView::from,
            ))
        }
    }
}

/// The table (at `?version=N`, else the latest) with a page of its entries.
#[utoipa::path(
    get,
    path = "/v1/lookup-tables/{id}",
    tag = "lookup tables",
    operation_id = "get_lookup_table",
    summary = "A lookup table with a page of its entries",
    security(("api_key" = ["read"])),
    params(("id" = String, Path, description = "The table's id, or a built-in table's name (`iso-3166-1`, `iso-4217`, `unece-rec20`)."), crate::openapi::VersionQuery, crate::openapi::PageQuery),
    responses(
        (status = 200, description = "The table at the version asked (else the latest) and a page of its entries.", body = TableView),
    ),
)]
async fn get_table(
    auth: Authorized<Read>,
    path: web::Path<String>,
    page: PageRequest,
    version: RequestedVersion,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let target = target(&path)?;
    let RequestedVersion(version) = version;
    let mut conn = connection(&state.pool).await?;
    let view = match &target {
        Target::BuiltIn(table) => {
            if let Some(version) = version {
                return Err(version_not_found(&path, version));
            }
            let mut view = TableView::built_in(*table);
            view.entries = Some(entries_page(&mut conn, &page, &target, 0).await?);
            view
        }
        Target::Table(id) => {
            let (table, found) = table_at(&mut conn, &auth, &path, *id, version).await?;
            let number = found.version;
            let mut view = TableView::at_version(table, found);
            view.entries = Some(entries_page(&mut conn, &page, &target, number).await?);
            view
        }
    };
    Ok(HttpResponse::Ok().json(view))
}

/// Only the entries page of `GET /v1/lookup-tables/{id}` (same `version`, `limit`, `cursor`).
#[utoipa::path(
    get,
    path = "/v1/lookup-tables/{id}/entries",
    tag = "lookup tables",
    operation_id = "list_lookup_entries",
    summary = "A lookup table's entries",
    security(("api_key" = ["read"])),
    params(("id" = String, Path, description = "The table's id, or a built-in table's name (`iso-3166-1`, `iso-4217`, `unece-rec20`)."), crate::openapi::VersionQuery, crate::openapi::PageQuery),
    responses(
        (status = 200, description = "A page of entries.", body = Page<EntryView>),
    ),
)]
async fn list_entries(
    auth: Authorized<Read>,
    path: web::Path<String>,
    page: PageRequest,
    version: RequestedVersion,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let target = target(&path)?;
    let RequestedVersion(version) = version;
    let mut conn = connection(&state.pool).await?;
    let number = match &target {
        Target::BuiltIn(_) => match version {
            Some(version) => return Err(version_not_found(&path, version)),
            None => 0,
        },
        Target::Table(id) => {
            table_at(&mut conn, &auth, &path, *id, version)
                .await?
                .1
                .version
        }
    };
    Ok(HttpResponse::Ok().json(entries_page(&mut conn, &page, &target, number).await?))
}

/// `PUT`: the same body as `POST`; replaces the description, `extends` and entries as a new
/// version. The name cannot change (omit it or repeat it).
#[utoipa::path(
    put,
    path = "/v1/lookup-tables/{id}",
    tag = "lookup tables",
    operation_id = "replace_lookup_table",
    summary = "Replace a lookup table's entries: a new version",
    security(("api_key" = ["write"])),
    params(("id" = String, Path, description = "The table's id, or a built-in table's name (`iso-3166-1`, `iso-4217`, `unece-rec20`)."), ("name" = Option<String>, Query, description = "The table's name (CSV and multipart; a JSON body carries its own): letters, digits, `-`, `_`, `.`."), ("description" = Option<String>, Query, description = "CSV and multipart."), ("extends" = Option<String>, Query, description = "A built-in table whose entries come first (CSV and multipart)."), crate::openapi::CsvFormatQuery),
    request_body(description = "JSON entries, or a CSV (`text/csv`: columns `code`, `label`, `aliases` split on `|`, the rest attributes), or a multipart form whose `file` part is the CSV.", content((crate::lookup_tables::upload::JsonUpload = "application/json"), (String = "text/csv", example = json!("code,label,aliases\nCC-100,Research,R&D|Lab\n")), ("multipart/form-data"))),
    responses(
        (status = 200, description = "The table at its new version.", body = TableView),
        (status = 409, description = "`read_only`: a built-in table cannot be changed.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn replace_table(
    auth: Authorized<Write>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    query: web::Query<UploadParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = match target(&path)? {
        Target::BuiltIn(table) => return Err(read_only(table.name)),
        Target::Table(id) => id,
    };
    let organization_id = auth.organization_id;
    let existing = {
        let mut conn = connection(&state.pool).await?;
        LookupTable::find(&mut conn, organization_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found(RESOURCE, path.as_str()))?
    };
    let upload = read_upload(&req, payload, &state, &query).await?;
    if let Some(given) = upload.name.as_deref().map(str::trim) {
        if !given.is_empty() && given != existing.name {
            return Err(ApiError::validation(
                "name",
                format!(
                    "a table's name cannot change (this one is `{}`); omit `name` or repeat it, or create a new table",
                    existing.name
                ),
            ));
        }
    }
    let contents = check_contents(upload)?;
    let mut conn = connection(&state.pool).await?;
    let table = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            Ok(LookupTable::replace(
                conn,
                organization_id,
                id,
                contents.description,
                contents.extends,
                &contents.entries,
            )
            .await?)
        })
        .await?
        .ok_or_else(|| ApiError::not_found(RESOURCE, path.as_str()))?;
    tracing::info!(table_id = %table.id, version = table.version, entries = table.entry_count, "lookup table replaced");
    Ok(HttpResponse::Ok().json(TableView::latest(table)))
}

#[utoipa::path(
    delete,
    path = "/v1/lookup-tables/{id}",
    tag = "lookup tables",
    operation_id = "delete_lookup_table",
    summary = "Delete a lookup table",
    security(("api_key" = ["write"])),
    params(("id" = String, Path, description = "The table's id, or a built-in table's name (`iso-3166-1`, `iso-4217`, `unece-rec20`).")),
    responses(
        (status = 204, description = "Deleted; policies naming it answer 409 `lookup_table_missing` when a run uses them."),
        (status = 409, description = "`read_only`: a built-in table cannot be deleted.", body = crate::openapi::errors::ErrorEnvelope),
    ),
)]
async fn delete_table(
    auth: Authorized<Write>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = match target(&path)? {
        Target::BuiltIn(table) => return Err(read_only(table.name)),
        Target::Table(id) => id,
    };
    let mut conn = connection(&state.pool).await?;
    if !LookupTable::delete(&mut conn, auth.organization_id, id).await? {
        return Err(ApiError::not_found(RESOURCE, path.as_str()));
    }
    tracing::info!(table_id = %id, "lookup table deleted");
    Ok(HttpResponse::NoContent().finish())
}
