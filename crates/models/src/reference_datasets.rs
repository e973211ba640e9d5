//! Reference datasets and their rows: the named tables that documents are matched against.
//!
//! A dataset's `column_schema` is a JSON array of [`ReferenceColumn`] in upload order, and every
//! row's `cells` follow that order (a NULL element for an empty cell). Datasets are immutable once
//! uploaded; deleting one deletes its rows (`ON DELETE CASCADE`). Matching configs keep the id of
//! the dataset they reference: [`ReferenceDataset::find`] / [`ReferenceDataset::find_by_id`]
//! answering `None` for it means that the dataset was deleted.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use crate::ids::{OrganizationId, ReferenceDatasetId};
use crate::json::Json;
use crate::schema::{reference_datasets, reference_rows};
use crate::text_enum::text_enum;
use crate::StoreError;

text_enum! {
    /// The narrowest type that every non-empty value of a column fits, inferred at upload.
    pub enum ColumnType {
        Integer => "integer",
        Number => "number",
        Date => "date",
        Boolean => "boolean",
        String => "string",
    }
}

/// One column of a dataset: its name (from the header), inferred type and how many of its cells
/// are not empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    pub non_empty: i64,
}

/// A named table of rows of one organisation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reference_datasets, check_for_backend(diesel::pg::Pg))]
pub struct ReferenceDataset {
    pub id: ReferenceDatasetId,
    pub organization_id: OrganizationId,
    pub name: String,
    /// The column whose values are the row ids; `None` when ids were generated (`row-1`, ...).
    pub id_column: Option<String>,
    /// The columns in upload order: see [`ReferenceDataset::columns`].
    pub column_schema: Json<Vec<ReferenceColumn>>,
    pub row_count: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = reference_datasets)]
pub struct NewReferenceDataset<'a> {
    pub id: ReferenceDatasetId,
    pub organization_id: OrganizationId,
    pub name: &'a str,
    pub id_column: Option<&'a str>,
    pub column_schema: Json<Vec<ReferenceColumn>>,
}

impl ReferenceDataset {
    /// The columns in upload order (the order of every row's cells).
    pub fn columns(&self) -> &[ReferenceColumn] {
        &self.column_schema.0
    }

    /// The index of the id column among [`ReferenceDataset::columns`], if ids came from one.
    pub fn id_column_index(&self) -> Option<usize> {
        let id_column = self.id_column.as_deref()?;
        self.columns().iter().position(|c| c.name == id_column)
    }

    /// Inserts a dataset with no rows yet (the upload fills it and then calls
    /// [`ReferenceDataset::finish`] in the same transaction).
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: NewReferenceDataset<'_>,
    ) -> Result<ReferenceDataset, StoreError> {
        Ok(diesel::insert_into(reference_datasets::table)
            .values(new)
            .returning(ReferenceDataset::as_returning())
            .get_result(conn)
            .await?)
    }

    /// Records the final name, columns and row count of an upload.
    pub async fn finish(
        conn: &mut AsyncPgConnection,
        id: ReferenceDatasetId,
        name: &str,
        columns: &[ReferenceColumn],
        row_count: i32,
    ) -> Result<ReferenceDataset, StoreError> {
        let schema = Json(columns.to_vec());
        Ok(diesel::update(reference_datasets::table.find(id))
            .set((
                reference_datasets::name.eq(name),
                reference_datasets::column_schema.eq(schema),
                reference_datasets::row_count.eq(row_count),
            ))
            .returning(ReferenceDataset::as_returning())
            .get_result(conn)
            .await?)
    }

    /// The organisation's dataset; `None` for another organisation's or a deleted one.
    pub async fn find(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: ReferenceDatasetId,
    ) -> Result<Option<ReferenceDataset>, StoreError> {
        Ok(reference_datasets::table
            .filter(reference_datasets::id.eq(id))
            .filter(reference_datasets::organization_id.eq(organization_id))
            .select(ReferenceDataset::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// The dataset whatever its organisation (for workers that already checked ownership when
    /// the run was created); `None` when it was deleted.
    pub async fn find_by_id(
        conn: &mut AsyncPgConnection,
        id: ReferenceDatasetId,
    ) -> Result<Option<ReferenceDataset>, StoreError> {
        Ok(reference_datasets::table
            .find(id)
            .select(ReferenceDataset::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// The organisation's datasets, newest first, older than the cursor.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        before: Option<ReferenceDatasetId>,
        limit: i64,
    ) -> Result<Vec<ReferenceDataset>, StoreError> {
        let mut query = reference_datasets::table
            .filter(reference_datasets::organization_id.eq(organization_id))
            .select(ReferenceDataset::as_select())
            .order(reference_datasets::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(reference_datasets::id.lt(before));
        }
        Ok(query.load(conn).await?)
    }

    /// Deletes the organisation's dataset and its rows; false when there was none.
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        id: ReferenceDatasetId,
    ) -> Result<bool, StoreError> {
        let deleted = diesel::delete(
            reference_datasets::table
                .filter(reference_datasets::id.eq(id))
                .filter(reference_datasets::organization_id.eq(organization_id)),
        )
        .execute(conn)
        .await?;
        Ok(deleted > 0)
    }
}

/// One row of a dataset, at its position in the upload (from 1).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = reference_rows, check_for_backend(diesel::pg::Pg))]
pub struct ReferenceRow {
    pub dataset_id: ReferenceDatasetId,
    pub position: i32,
    pub row_id: String,
    /// Aligned with the dataset's columns; `None` for an empty cell.
    pub cells: Vec<Option<String>>,
}

/// Rows per insert statement.
const ROWS_PER_INSERT: usize = 5_000;
/// Rows per query when loading a whole dataset.
const LOAD_PAGE_ROWS: i64 = 10_000;

impl ReferenceRow {
    /// Inserts the rows, skipping every row whose `row_id` the dataset already has (earlier in
    /// the same slice included). Returns the positions of the rows skipped, in ascending order:
    /// empty when every row was new. The rows must all belong to one dataset and come in
    /// ascending positions. Meant to run inside the upload's transaction: each statement runs in a
    /// savepoint of it.
    ///
    /// One statement per [`ROWS_PER_INSERT`] rows, with the rows passed as three arrays
    /// (positions, row ids, and each row's cells as an array literal) taken apart by `unnest`:
    /// PostgreSQL parses a short statement instead of one with a bind parameter per value. The
    /// statement first runs without a conflict clause (in a savepoint: speculative insertion
    /// costs a third more); only when it hits a duplicate id does it run again with
    /// `ON CONFLICT DO NOTHING` to tell which rows were duplicates.
    pub async fn insert_new(
        conn: &mut AsyncPgConnection,
        rows: &[ReferenceRow],
    ) -> Result<Vec<i32>, StoreError> {
        use diesel::result::{DatabaseErrorKind, Error};
        let mut skipped = Vec::new();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
                continue;
            };
            let positions: Vec<i32> = chunk.iter().map(|row| row.position).collect();
            let row_ids: Vec<&str> = chunk.iter().map(|row| row.row_id.as_str()).collect();
            let cells: Vec<String> = chunk.iter().map(|row| array_literal(&row.cells)).collect();
            let batch = RowArrays {
                dataset_id: first.dataset_id,
                positions: &positions,
                row_ids: &row_ids,
                cells: &cells,
            };
            let attempt = conn
                .transaction::<usize, Error, _>(async |conn| batch.insert(conn, false).await)
                .await;
            match attempt {
                Ok(_) => continue,
                Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
                Err(error) => return Err(error.into()),
            }
            // Rare (the upload fails): insert what is new, then see which positions are missing.
            batch.insert(conn, true).await?;
            let present: std::collections::HashSet<i32> = reference_rows::table
                .filter(reference_rows::dataset_id.eq(first.dataset_id))
                .filter(reference_rows::position.between(first.position, last.position))
                .select(reference_rows::position)
                .load::<i32>(conn)
                .await?
                .into_iter()
                .collect();
            skipped.extend(
                positions
                    .iter()
                    .copied()
                    .filter(|position| !present.contains(position)),
            );
        }
        skipped.sort_unstable();
        Ok(skipped)
    }

    /// The dataset's rows in upload order, after the given position.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        dataset_id: ReferenceDatasetId,
        after_position: Option<i32>,
        limit: i64,
    ) -> Result<Vec<ReferenceRow>, StoreError> {
        Ok(reference_rows::table
            .filter(reference_rows::dataset_id.eq(dataset_id))
            .filter(reference_rows::position.gt(after_position.unwrap_or(0)))
            .order(reference_rows::position.asc())
            .limit(limit)
            .select(ReferenceRow::as_select())
            .load(conn)
            .await?)
    }

    /// The rows with these ids: `(row_id, cells)`, in no particular order.
    pub async fn find_by_row_ids(
        conn: &mut AsyncPgConnection,
        dataset_id: ReferenceDatasetId,
        row_ids: &[String],
    ) -> Result<Vec<(String, Vec<Option<String>>)>, StoreError> {
        Ok(reference_rows::table
            .filter(reference_rows::dataset_id.eq(dataset_id))
            .filter(reference_rows::row_id.eq_any(row_ids))
            .select((reference_rows::row_id, reference_rows::cells))
            .load(conn)
            .await?)
    }

    /// Up to `limit` rows whose cell in column `column` (an index of
    /// [`ReferenceDataset::columns`]) begins with `prefix`, or has a word that does, ignoring
    /// case: `(row_id, cells)` in upload order, the cells beginning with it first. What an
    /// auto-complete asks; a scan of the dataset's rows, bounded by `limit`.
    pub async fn search_prefix(
        conn: &mut AsyncPgConnection,
        dataset_id: ReferenceDatasetId,
        column: usize,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<(String, Vec<Option<String>>)>, StoreError> {
        use diesel::sql_types::{Array, BigInt, Int4, Nullable, Text, Uuid};
        #[derive(QueryableByName)]
        struct Found {
            #[diesel(sql_type = Text)]
            row_id: String,
            #[diesel(sql_type = Array<Nullable<Text>>)]
            cells: Vec<Option<String>>,
        }
        const SEARCH: &str = "SELECT row_id, cells FROM reference_rows \
            WHERE dataset_id = $1 AND (cells[$2] ILIKE $3 OR cells[$2] ILIKE $4) \
            ORDER BY (cells[$2] ILIKE $3) DESC, position LIMIT $5";
        let escaped: String = prefix
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        // Arrays of SQL count from 1.
        let column = i32::try_from(column.saturating_add(1)).unwrap_or(i32::MAX);
        let found: Vec<Found> = diesel::sql_query(SEARCH)
            .bind::<Uuid, _>(dataset_id)
            .bind::<Int4, _>(column)
            .bind::<Text, _>(format!("{escaped}%"))
            .bind::<Text, _>(format!("% {escaped}%"))
            .bind::<BigInt, _>(limit)
            .load(conn)
            .await?;
        Ok(found.into_iter().map(|f| (f.row_id, f.cells)).collect())
    }

    /// Every row of the dataset in upload order, as `(row_id, cells)` with the cells aligned with
    /// [`ReferenceDataset::columns`] (padded with `None` should a row be shorter). Reads in pages
    /// of 10,000 rows by position. An empty result for a dataset id that
    /// [`ReferenceDataset::find_by_id`] does not know means the dataset was deleted.
    pub async fn load_all(
        conn: &mut AsyncPgConnection,
        dataset_id: ReferenceDatasetId,
    ) -> Result<Vec<(String, Vec<Option<String>>)>, StoreError> {
        let Some((schema, row_count)) = reference_datasets::table
            .find(dataset_id)
            .select((
                reference_datasets::column_schema,
                reference_datasets::row_count,
            ))
            .first::<(Json<Vec<ReferenceColumn>>, i32)>(conn)
            .await
            .optional()?
        else {
            return Ok(Vec::new());
        };
        let width = schema.0.len();
        let mut all = Vec::with_capacity(usize::try_from(row_count).unwrap_or(0));
        let mut after = 0;
        loop {
            let page: Vec<(i32, String, Vec<Option<String>>)> = reference_rows::table
                .filter(reference_rows::dataset_id.eq(dataset_id))
                .filter(reference_rows::position.gt(after))
                .order(reference_rows::position.asc())
                .limit(LOAD_PAGE_ROWS)
                .select((
                    reference_rows::position,
                    reference_rows::row_id,
                    reference_rows::cells,
                ))
                .load(conn)
                .await?;
            let full = i64::try_from(page.len()) == Ok(LOAD_PAGE_ROWS);
            for (position, row_id, mut cells) in page {
                after = position;
                if cells.len() < width {
                    cells.resize(width, None);
                }
                all.push((row_id, cells));
            }
            if !full {
                return Ok(all);
            }
        }
    }
}

/// One batch of rows as the arrays that the insert statement unnests.
struct RowArrays<'a> {
    dataset_id: ReferenceDatasetId,
    positions: &'a [i32],
    row_ids: &'a [&'a str],
    cells: &'a [String],
}

impl RowArrays<'_> {
    async fn insert(
        &self,
        conn: &mut AsyncPgConnection,
        skip_duplicates: bool,
    ) -> Result<usize, diesel::result::Error> {
        use diesel::sql_types::{Array, Int4, Text, Uuid};
        const INSERT: &str = "INSERT INTO reference_rows (dataset_id, position, row_id, cells) \
             SELECT $1, t.position, t.row_id, t.cells::text[] \
             FROM unnest($2::int4[], $3::text[], $4::text[]) WITH ORDINALITY \
                  AS t(position, row_id, cells, n) \
             ORDER BY t.n";
        let sql = if skip_duplicates {
            format!("{INSERT} ON CONFLICT (dataset_id, row_id) DO NOTHING")
        } else {
            INSERT.to_owned()
        };
        diesel::sql_query(sql)
            .bind::<Uuid, _>(self.dataset_id)
            .bind::<Array<Int4>, _>(self.positions)
            .bind::<Array<Text>, _>(self.row_ids)
            .bind::<Array<Text>, _>(self.cells)
            .execute(conn)
            .await
    }
}

/// A PostgreSQL array literal of the cells: every value quoted (so that the text `NULL` stays
/// text), `NULL` for `None`.
fn array_literal(cells: &[Option<String>]) -> String {
    let mut out = String::with_capacity(
        2 + cells
            .iter()
            .map(|c| c.as_ref().map_or(4, |v| v.len() + 3))
            .sum::<usize>(),
    );
    out.push('{');
    for (index, cell) in cells.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        match cell {
            None => out.push_str("NULL"),
            Some(value) => {
                out.push('"');
                for c in value.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals_quote_every_value() {
        assert_eq!(
            array_literal(&[
                Some("a".to_owned()),
                None,
                Some("NULL".to_owned()),
                Some("say \"hi\", \\o/ {x}".to_owned()),
                Some(" ".to_owned()),
            ]),
            r#"{"a",NULL,"NULL","say \"hi\", \\o/ {x}"," "}"#
        );
        assert_eq!(array_literal(&[]), "{}");
    }
}
