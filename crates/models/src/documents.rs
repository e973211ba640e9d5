use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::JobRunId;
use crate::schema::documents;
use crate::StoreError;

/// One document of a job run: its caller-given id, file name and extracted values
/// (`{field: raw string}`), at its position in the batch.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = documents, check_for_backend(diesel::pg::Pg))]
pub struct Document {
    pub job_run_id: JobRunId,
    pub position: i32,
    pub document_id: String,
    pub filename: String,
    /// Free-form JSON by design: the values an upstream system extracted, keyed by its own field
    /// names (a config or policy names which it reads).
    pub field_values: serde_json::Value,
}

/// PostgreSQL accepts at most 65,535 bind parameters per statement; five per row.
const ROWS_PER_INSERT: usize = 5_000;

impl Document {
    /// Inserts the documents with multi-row statements.
    pub async fn insert_all(
        conn: &mut AsyncPgConnection,
        documents: &[Document],
    ) -> Result<(), StoreError> {
        for chunk in documents.chunks(ROWS_PER_INSERT) {
            diesel::insert_into(documents::table)
                .values(chunk)
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// The job run's documents in batch order, after the given position.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        job_run_id: JobRunId,
        after_position: Option<i32>,
        limit: i64,
    ) -> Result<Vec<Document>, StoreError> {
        Ok(documents::table
            .filter(documents::job_run_id.eq(job_run_id))
            .filter(documents::position.gt(after_position.unwrap_or(-1)))
            .order(documents::position.asc())
            .limit(limit)
            .select(Document::as_select())
            .load(conn)
            .await?)
    }

    /// The job run's documents at the given positions, in position order (positions that hold
    /// no document are skipped).
    pub async fn at_positions(
        conn: &mut AsyncPgConnection,
        job_run_id: JobRunId,
        positions: &[i32],
    ) -> Result<Vec<Document>, StoreError> {
        Ok(documents::table
            .filter(documents::job_run_id.eq(job_run_id))
            .filter(documents::position.eq_any(positions))
            .order(documents::position.asc())
            .select(Document::as_select())
            .load(conn)
            .await?)
    }
}
