//! How lookup tables and their entries look in the API.

use chrono::{DateTime, Utc};
use concord_models::lookup_tables::{LookupTable, LookupTableEntry, LookupTableVersion};
use serde::Serialize;
use serde_json::{Map, Value};

use super::standard::{BuiltIn, BuiltInEntry};
use crate::pagination::Page;

pub fn table_path(id: impl std::fmt::Display) -> String {
    format!("/v1/lookup-tables/{id}")
}

/// A lookup table (built-in or the organisation's).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TableView {
    /// The table's id; a built-in table's id is its name.
    pub id: String,
    pub name: String,
    /// A read-only standard table that comes with Concord.
    pub built_in: bool,
    /// A built-in table's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub title: Option<String>,
    pub description: Option<String>,
    /// Where a built-in table's data comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub source: Option<String>,
    /// The built-in table whose entries come before this one's (at the version shown).
    pub extends: Option<String>,
    /// The version shown (null for a built-in table: they change only with a release).
    pub version: Option<i32>,
    /// The newest version (null for a built-in table).
    pub latest_version: Option<i32>,
    /// Entries of the version shown (without those of the table it extends).
    pub entry_count: i64,
    /// Null for a built-in table.
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub links: TableLinks,
    /// On `GET /v1/lookup-tables/{id}`: a page of the entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub entries: Option<Page<EntryView>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TableLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub entries: String,
    /// The built-in table it extends.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub extends: Option<String>,
}

/// One entry: a code, its label, aliases and attributes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    pub code: String,
    pub label: String,
    pub aliases: Vec<String>,
    pub attributes: Map<String, Value>,
}

fn links(id: &str, version: Option<i32>, extends: Option<&str>) -> TableLinks {
    let path = table_path(id);
    TableLinks {
        entries: match version {
            Some(version) => format!("{path}/entries?version={version}"),
            None => format!("{path}/entries"),
        },
        self_: path,
        extends: extends.map(table_path),
    }
}

impl TableView {
    /// The table at its latest version.
    pub fn latest(table: LookupTable) -> TableView {
        let id = table.id.to_string();
        TableView {
            links: links(&id, None, table.extends.as_deref()),
            id,
            name: table.name,
            built_in: false,
            title: None,
            description: table.description,
            source: None,
            extends: table.extends,
            version: Some(table.version),
            latest_version: Some(table.version),
            entry_count: i64::from(table.entry_count),
            created_at: Some(table.created_at),
            updated_at: Some(table.updated_at),
            entries: None,
        }
    }

    /// The table at one of its versions.
    pub fn at_version(table: LookupTable, version: LookupTableVersion) -> TableView {
        let mut view = TableView::latest(table);
        if view.version != Some(version.version) {
            view.links = links(&view.id, Some(version.version), version.extends.as_deref());
        }
        view.version = Some(version.version);
        view.extends = version.extends;
        view.entry_count = i64::from(version.entry_count);
        view
    }

    pub fn built_in(table: BuiltIn) -> TableView {
        TableView {
            id: table.name.to_owned(),
            name: table.name.to_owned(),
            built_in: true,
            title: Some(table.title.to_owned()),
            description: Some(table.description.to_owned()),
            source: Some(table.source.to_owned()),
            extends: None,
            version: None,
            latest_version: None,
            // A compiled-in vocabulary holds a few hundred entries: the saturation never bites.
            entry_count: i64::try_from(table.entry_count).unwrap_or(i64::MAX),
            created_at: None,
            updated_at: None,
            links: links(table.name, None, None),
            entries: None,
        }
    }
}

impl From<LookupTableEntry> for EntryView {
    fn from(entry: LookupTableEntry) -> Self {
        EntryView {
            code: entry.code,
            label: entry.label,
            aliases: entry.aliases,
            attributes: match entry.attributes {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }
}

impl From<BuiltInEntry> for EntryView {
    fn from(entry: BuiltInEntry) -> Self {
        EntryView {
            code: entry.code.to_owned(),
            label: entry.label.to_owned(),
            aliases: entry.aliases.to_vec(),
            attributes: entry.attributes.clone(),
        }
    }
}
