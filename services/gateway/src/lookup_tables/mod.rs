//! Lookup tables (`/v1/lookup-tables`): versioned tables of canonical entries (code, label,
//! aliases, attributes) that data policies resolve values against by the table's `name`. Besides
//! the organisation's own tables there are read-only built-in standard tables (`iso-3166-1`,
//! `iso-4217`, `unece-rec20`, see [`standard`]).
//!
//! | endpoint | scope |
//! | --- | --- |
//! | `POST /v1/lookup-tables` (`application/json`, `text/csv`, `multipart/form-data`) | write |
//! | `GET /v1/lookup-tables` | read |
//! | `GET /v1/lookup-tables/{id}` (`?version=&limit=&cursor=`) | read |
//! | `GET /v1/lookup-tables/{id}/entries` (`?version=&limit=&cursor=`) | read |
//! | `PUT /v1/lookup-tables/{id}` (same bodies as `POST`) | write |
//! | `DELETE /v1/lookup-tables/{id}` | write |
//!
//! **Bodies.** JSON: `{"name", "description"?, "extends"?, "entries": [{"code", "label",
//! "aliases"?: [..], "attributes"?: {..}}]}` (unknown fields are rejected). CSV (`text/csv`, the
//! table's fields in the query: `?name=&description=&extends=`) or multipart (a `file` part
//! holding the CSV, and optional text parts `name`, `description`, `extends` overriding the
//! query): a header line naming `code` and `label` (any letter case, any order), optionally
//! `aliases` (one cell, split on `|`), and any other columns, whose non-empty cells become string
//! attributes; an empty `label` cell takes the code. See [`upload`] for the entry rules.
//!
//! **Checks** (a 422 names the field — `name`, `extends`, `entries[7].code`,
//! `entries[0].aliases[2]` — or the CSV line; nothing is stored): `name` 1 to 100 characters of
//! `A-Za-z0-9_.-`; `extends` the exact name of a built-in table; at least one entry unless
//! `extends` is set; codes and labels non-empty once trimmed, no control characters in codes,
//! labels and aliases, each code once per upload; at most 100,000 entries, the gateway's body
//! limit (`max_json_body_bytes`, 64 MiB by default) for every format and 1 MiB per CSV record.
//! A name the organisation already uses, or a built-in table's name in any letter case, is
//! 409 `name_taken`.
//!
//! **Versions.** `POST` makes version 1; each `PUT` replaces the description, `extends` and the
//! entries as the next version (an omitted description becomes null; `name` may be omitted or
//! repeated but not changed: 422). Every version stays readable with `?version=N` (404 naming
//! the version when it does not exist).
//!
//! **Built-in tables.** `{id}` is a table's id or a built-in table's name; built-ins are
//! readable (`version`, `latest_version`, `created_at`, `updated_at` are null, `built_in` is
//! true, `title` and `source` are set) and `PUT`/`DELETE` on them is 409 `read_only`. The list
//! gives the built-in tables first (in their fixed order), then the organisation's tables newest
//! first, all in one cursor-paginated sequence; `?built_in=true` lists only the built-ins,
//! `?built_in=false` only the organisation's tables. A table that `extends` a built-in shows and
//! counts its own entries only; the built-in's come before them when a policy resolves.
//!
//! For data policies and resolution runs: [`resolve_names`] turns the table names a policy's
//! rules use into [`TableRef`]s to snapshot; [`known_names`] gives every name a rule may use.

pub mod routes;
pub mod standard;
pub mod upload;
pub mod view;

use std::collections::BTreeSet;

use concord_models::ids::OrganizationId;
use concord_models::lookup_tables::LookupTable;
pub use concord_models::lookup_tables::TableRef;
use diesel_async::AsyncPgConnection;
pub use routes::configure;

use crate::error::ApiError;

/// What each name refers to, in the order given: the organisation's table (at its current
/// version) or a built-in table; `None` for a name that is neither. (Built-in names can't be
/// taken by an organisation's table, so a name is never both.)
pub async fn find_names(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    names: &[String],
) -> Result<Vec<Option<TableRef>>, ApiError> {
    let wanted: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| standard::find(name).is_none())
        .collect();
    let tables = if wanted.is_empty() {
        Vec::new()
    } else {
        LookupTable::find_by_names(conn, organization_id, &wanted).await?
    };
    Ok(names
        .iter()
        .map(|name| {
            if let Some(table) = tables.iter().find(|t| &t.name == name) {
                return Some(TableRef {
                    name: name.clone(),
                    built_in: false,
                    table_id: Some(table.id.as_uuid()),
                    version: Some(table.version),
                    extends: table.extends.clone(),
                });
            }
            standard::find(name).map(|table| TableRef {
                name: table.name.to_owned(),
                built_in: true,
                table_id: None,
                version: None,
                extends: None,
            })
        })
        .collect())
}

/// Like [`find_names`], but every name must exist: an unknown one is a 422 on the field
/// `lookup_tables` naming it (callers that know the rule's path can map it, or use
/// [`find_names`] / [`known_names`] to report it themselves).
pub async fn resolve_names(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    names: &[String],
) -> Result<Vec<TableRef>, ApiError> {
    let found = find_names(conn, organization_id, names).await?;
    let unknown: Vec<String> = names
        .iter()
        .zip(&found)
        .filter(|(_, found)| found.is_none())
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::validation(
            "lookup_tables",
            format!(
                "no lookup table named {} (neither one of the organisation's tables nor a built-in table)",
                unknown.join(", ")
            ),
        ));
    }
    Ok(found.into_iter().flatten().collect())
}

/// Every table name the organisation's rules may use: its own tables' and the built-in ones.
pub async fn known_names(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> Result<BTreeSet<String>, ApiError> {
    let mut names: BTreeSet<String> = LookupTable::names(conn, organization_id)
        .await?
        .into_iter()
        .collect();
    names.extend(standard::names().map(str::to_owned));
    Ok(names)
}

/// Whether `name` is a built-in table's.
pub fn is_built_in(name: &str) -> bool {
    standard::find(name).is_some()
}
