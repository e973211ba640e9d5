use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use crate::ids::{LookupTableId, OrganizationId};
use crate::schema::{lookup_entries, lookup_table_versions, lookup_tables};
use crate::StoreError;

/// A versioned table of canonical entries (code, label, aliases, attributes) that data policies
/// resolve values against, called by its `name`. Replacing the entries makes a new version; every
/// version stays readable by its number. A table may extend a built-in standard table
/// (`extends`), whose entries then come before its own.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lookup_tables, check_for_backend(diesel::pg::Pg))]
pub struct LookupTable {
    pub id: LookupTableId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub description: Option<String>,
    pub extends: Option<String>,
    pub version: i32,
    pub entry_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = lookup_tables)]
pub struct NewLookupTable {
    pub id: LookupTableId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub description: Option<String>,
    pub extends: Option<String>,
}

/// One version of a table.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lookup_table_versions, check_for_backend(diesel::pg::Pg))]
pub struct LookupTableVersion {
    pub table_id: LookupTableId,
    pub version: i32,
    pub extends: Option<String>,
    pub entry_count: i32,
    pub created_at: DateTime<Utc>,
}

/// One entry of a table version.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = lookup_entries, check_for_backend(diesel::pg::Pg))]
pub struct LookupTableEntry {
    pub position: i32,
    pub code: String,
    pub label: String,
    pub aliases: Vec<String>,
    /// Free-form JSON by design: the table's other columns as the user uploaded them.
    pub attributes: serde_json::Value,
}

/// What adding an alias came to.
#[derive(Debug)]
pub enum AliasOutcome {
    /// A new version of the table, with the alias.
    Added(LookupTable),
    /// The entry's code, label or an alias is that spelling already (ignoring case).
    AlreadyKnown,
    /// The table has no entry with that code.
    NoSuchCode,
    /// The table is gone.
    NoSuchTable,
}

/// An entry to store (positions are given by the order of the list).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewLookupEntry {
    pub code: String,
    pub label: String,
    pub aliases: Vec<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// What a lookup table name resolved to when a policy or run was saved: the organisation's table
/// at its version then, or a built-in standard table (`built_in`, no id nor version: built-ins
/// change only with a release). Kept in a run's snapshot so the resolution worker reads exactly
/// the entries the run was created against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRef {
    pub name: String,
    pub built_in: bool,
    /// The organisation's table (`None` for a built-in).
    pub table_id: Option<uuid::Uuid>,
    /// The version of the organisation's table (`None` for a built-in).
    pub version: Option<i32>,
    /// The built-in table an organisation's table extends at that version.
    pub extends: Option<String>,
}

/// Rows per insert statement.
const ROWS_PER_INSERT: usize = 5_000;
/// Rows per page when a whole version is loaded.
const LOAD_PAGE_ROWS: i64 = 10_000;
/// Joins a row's aliases into one text for `unnest` (which would flatten a two-dimensional
/// array); entries are cleaned of control characters before they get here.
const ALIAS_SEPARATOR: char = '\u{1f}';

impl LookupTable {
    /// Stores a new table with its entries as version 1 (in the caller's transaction).
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewLookupTable,
        entries: &[NewLookupEntry],
    ) -> Result<LookupTable, StoreError> {
        let extends = new.extends.clone();
        let table = diesel::insert_into(lookup_tables::table)
            .values((new, lookup_tables::entry_count.eq(count(entries)?)))
            .returning(LookupTable::as_returning())
            .get_result(conn)
            .await?;
        insert_version(conn, table.id, 1, extends, entries).await?;
        Ok(table)
    }

    /// Replaces the entries (and `extends`, `description`) with a new version; `None` if the
    /// table is not the organisation's. Older versions stay.
    pub async fn replace(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: LookupTableId,
        description: Option<String>,
        extends: Option<String>,
        entries: &[NewLookupEntry],
    ) -> Result<Option<LookupTable>, StoreError> {
        let updated = diesel::update(
            lookup_tables::table
                .find(id)
                .filter(lookup_tables::organization_id.eq(organization_id)),
        )
        .set((
            lookup_tables::version.eq(lookup_tables::version + 1),
            lookup_tables::description.eq(description),
            lookup_tables::extends.eq(extends.clone()),
            lookup_tables::entry_count.eq(count(entries)?),
            lookup_tables::updated_at.eq(diesel::dsl::now),
        ))
        .returning(LookupTable::as_returning())
        .get_result(conn)
        .await
        .optional()?;
        let Some(table) = updated else {
            return Ok(None);
        };
        insert_version(conn, table.id, table.version, extends, entries).await?;
        Ok(Some(table))
    }

    /// Adds `alias` to the entry `code` of the table's latest version, as a new version (older
    /// versions stay, and runs keep the version they snapshotted): the next resolution finds the
    /// spelling. Meant to run in a transaction.
    pub async fn add_alias(
        conn: &mut AsyncPgConnection,
        table: &LookupTable,
        code: &str,
        alias: &str,
    ) -> Result<AliasOutcome, StoreError> {
        let mut entries = Vec::new();
        let mut found = false;
        for entry in Self::all_entries(conn, table.id, table.version).await? {
            let mut aliases = entry.aliases;
            if entry.code == code {
                found = true;
                let known = entry.label.eq_ignore_ascii_case(alias)
                    || entry.code.eq_ignore_ascii_case(alias)
                    || aliases.iter().any(|a| a.eq_ignore_ascii_case(alias));
                if known {
                    return Ok(AliasOutcome::AlreadyKnown);
                }
                aliases.push(alias.to_owned());
            }
            entries.push(NewLookupEntry {
                code: entry.code,
                label: entry.label,
                aliases,
                attributes: serde_json::from_value(entry.attributes)?,
            });
        }
        if !found {
            return Ok(AliasOutcome::NoSuchCode);
        }
        let replaced = Self::replace(
            conn,
            table.organization_id,
            table.id,
            table.description.clone(),
            table.extends.clone(),
            &entries,
        )
        .await?;
        Ok(match replaced {
            Some(table) => AliasOutcome::Added(table),
            None => AliasOutcome::NoSuchTable,
        })
    }

    /// The organisation's table (`None` for another organisation's).
    pub async fn find(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: LookupTableId,
    ) -> Result<Option<LookupTable>, StoreError> {
        Ok(lookup_tables::table
            .find(id)
            .filter(lookup_tables::organization_id.eq(organization_id))
            .select(LookupTable::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// The organisation's tables with these names.
    pub async fn find_by_names(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        names: &[&str],
    ) -> Result<Vec<LookupTable>, StoreError> {
        Ok(lookup_tables::table
            .filter(lookup_tables::organization_id.eq(organization_id))
            .filter(lookup_tables::name.eq_any(names))
            .select(LookupTable::as_select())
            .load(conn)
            .await?)
    }

    /// The names of all the organisation's tables.
    pub async fn names(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
    ) -> Result<Vec<String>, StoreError> {
        Ok(lookup_tables::table
            .filter(lookup_tables::organization_id.eq(organization_id))
            .select(lookup_tables::name)
            .load(conn)
            .await?)
    }

    /// Newest first, before the given id.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        before: Option<LookupTableId>,
        limit: i64,
    ) -> Result<Vec<LookupTable>, StoreError> {
        let mut query = lookup_tables::table
            .filter(lookup_tables::organization_id.eq(organization_id))
            .order(lookup_tables::id.desc())
            .limit(limit)
            .select(LookupTable::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(lookup_tables::id.lt(before));
        }
        Ok(query.load(conn).await?)
    }

    /// Whether a table was deleted (with all its versions).
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: LookupTableId,
    ) -> Result<bool, StoreError> {
        let deleted = diesel::delete(
            lookup_tables::table
                .find(id)
                .filter(lookup_tables::organization_id.eq(organization_id)),
        )
        .execute(conn)
        .await?;
        Ok(deleted > 0)
    }

    pub async fn find_version(
        conn: &mut AsyncPgConnection,
        id: LookupTableId,
        version: i32,
    ) -> Result<Option<LookupTableVersion>, StoreError> {
        Ok(lookup_table_versions::table
            .find((id, version))
            .select(LookupTableVersion::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// A page of a version's entries, in order, after the given position.
    pub async fn entries(
        conn: &mut AsyncPgConnection,
        id: LookupTableId,
        version: i32,
        after_position: Option<i32>,
        limit: i64,
    ) -> Result<Vec<LookupTableEntry>, StoreError> {
        Ok(lookup_entries::table
            .filter(lookup_entries::table_id.eq(id))
            .filter(lookup_entries::version.eq(version))
            .filter(lookup_entries::position.gt(after_position.unwrap_or(-1)))
            .order(lookup_entries::position.asc())
            .limit(limit)
            .select(LookupTableEntry::as_select())
            .load(conn)
            .await?)
    }

    /// Every entry of a version, in order.
    pub async fn all_entries(
        conn: &mut AsyncPgConnection,
        id: LookupTableId,
        version: i32,
    ) -> Result<Vec<LookupTableEntry>, StoreError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = Self::entries(conn, id, version, after, LOAD_PAGE_ROWS).await?;
            let full = i64::try_from(page.len()) == Ok(LOAD_PAGE_ROWS);
            after = page.last().map(|e| e.position);
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }
}

fn count(entries: &[NewLookupEntry]) -> Result<i32, StoreError> {
    Ok(i32::try_from(entries.len())?)
}

async fn insert_version(
    conn: &mut AsyncPgConnection,
    id: LookupTableId,
    version: i32,
    extends: Option<String>,
    entries: &[NewLookupEntry],
) -> Result<(), StoreError> {
    use diesel::sql_types::{Array, Int4, Text, Uuid};
    diesel::insert_into(lookup_table_versions::table)
        .values((
            lookup_table_versions::table_id.eq(id),
            lookup_table_versions::version.eq(version),
            lookup_table_versions::extends.eq(extends),
            lookup_table_versions::entry_count.eq(count(entries)?),
        ))
        .execute(conn)
        .await?;
    const INSERT: &str = "INSERT INTO lookup_entries \
         (table_id, version, position, code, label, aliases, attributes) \
         SELECT $1, $2, t.position, t.code, t.label, \
                CASE WHEN t.aliases = '' THEN '{}'::text[] ELSE string_to_array(t.aliases, $3) END, \
                t.attributes::jsonb \
         FROM unnest($4::int4[], $5::text[], $6::text[], $7::text[], $8::text[]) \
              AS t(position, code, label, aliases, attributes)";
    let separator = ALIAS_SEPARATOR.to_string();
    for (chunk_index, chunk) in entries.chunks(ROWS_PER_INSERT).enumerate() {
        let first = chunk_index * ROWS_PER_INSERT;
        let positions: Vec<i32> = (0..chunk.len())
            .map(|i| i32::try_from(first + i))
            .collect::<Result<_, _>>()?;
        let codes: Vec<&str> = chunk.iter().map(|e| e.code.as_str()).collect();
        let labels: Vec<&str> = chunk.iter().map(|e| e.label.as_str()).collect();
        let aliases: Vec<String> = chunk.iter().map(|e| e.aliases.join(&separator)).collect();
        let attributes: Vec<String> = chunk
            .iter()
            .map(|e| serde_json::Value::Object(e.attributes.clone()).to_string())
            .collect();
        diesel::sql_query(INSERT)
            .bind::<Uuid, _>(id)
            .bind::<Int4, _>(version)
            .bind::<Text, _>(&separator)
            .bind::<Array<Int4>, _>(&positions)
            .bind::<Array<Text>, _>(&codes)
            .bind::<Array<Text>, _>(&labels)
            .bind::<Array<Text>, _>(&aliases)
            .bind::<Array<Text>, _>(&attributes)
            .execute(conn)
            .await?;
    }
    Ok(())
}
