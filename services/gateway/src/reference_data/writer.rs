//! Storing an upload: a [`DatasetWriter`] owns one transaction (in a task of its own, like the
//! jobs module's writer) and receives the rows in batches through a bounded channel, so that an
//! upload of millions of rows goes to the database in bounded memory and either commits whole or
//! not at all. The dataset row is inserted first and gets its name, columns and row count at the
//! end of the same transaction.
//!
//! Duplicate row ids are found by the database: rows go in with `ON CONFLICT DO NOTHING` on the
//! `(dataset_id, row_id)` key, and a row that was skipped is a duplicate of an earlier one, named
//! by its line (CSV) or index (JSON). No set of ids seen is kept in memory.

use concord_models::database::connection;
use concord_models::ids::{OrganizationId, ReferenceDatasetId};
use concord_models::reference_datasets::{
    NewReferenceDataset, ReferenceColumn, ReferenceDataset, ReferenceRow,
};
use concord_models::StoreError;
use diesel_async::AsyncConnection;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::ApiError;
use crate::state::AppState;

/// Rows per batch sent to the writer (and per multi-row insert).
pub const BATCH_ROWS: usize = 5_000;
/// A batch is also sent once its cells reach this many bytes.
const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Where rows come from: it decides how a row is named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Rows are named by the physical line they start on (1 = the header).
    Csv,
    /// Rows are named by their index in `rows`.
    Json,
}

struct Batch {
    rows: Vec<ReferenceRow>,
    /// The line (CSV) or index (JSON) of each row.
    locators: Vec<u64>,
}

enum Command {
    Insert(Batch),
    Commit {
        name: String,
        columns: Vec<ReferenceColumn>,
    },
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("the upload was abandoned")]
    Abandoned,
    #[error("duplicate row id `{row_id}`")]
    Duplicate { locator: u64, row_id: String },
    #[error("the store skipped row position {0}, which the batch does not hold")]
    SkippedUnknown(i32),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for WriteError {
    fn from(error: diesel::result::Error) -> Self {
        WriteError::Store(StoreError::Query(error))
    }
}

pub struct DatasetWriter {
    dataset_id: ReferenceDatasetId,
    source: Source,
    id_column: Option<String>,
    sender: mpsc::Sender<Command>,
    task: JoinHandle<Result<ReferenceDataset, WriteError>>,
    batch: Batch,
    batch_bytes: usize,
    rows: i32,
}

impl DatasetWriter {
    /// Opens the transaction and inserts the dataset (named `name` for now: the commit gives
    /// the final name).
    pub fn start(
        state: &AppState,
        organization_id: OrganizationId,
        name: &str,
        id_column: Option<String>,
        source: Source,
    ) -> DatasetWriter {
        let dataset_id = ReferenceDatasetId::generate();
        let (sender, receiver) = mpsc::channel(2);
        let pool = state.pool.clone();
        let name = name.to_owned();
        let stored_id_column = id_column.clone();
        let task = tokio::spawn(tracing::Instrument::in_current_span(async move {
            let mut conn = connection(&pool).await?;
            let mut receiver = receiver;
            conn.transaction::<_, WriteError, _>(async move |conn| {
                ReferenceDataset::insert(
                    conn,
                    NewReferenceDataset {
                        id: dataset_id,
                        organization_id,
                        name: &name,
                        id_column: stored_id_column.as_deref(),
                        column_schema: concord_models::json::Json(Vec::new()),
                    },
                )
                .await?;
                let mut count = 0usize;
                loop {
                    match receiver.recv().await {
                        Some(Command::Insert(batch)) => {
                            let skipped = ReferenceRow::insert_new(conn, &batch.rows).await?;
                            if let Some(&position) = skipped.first() {
                                let index =
                                    batch.rows.iter().position(|row| row.position == position);
                                let located = index.and_then(|index| {
                                    Some((batch.locators.get(index)?, batch.rows.get(index)?))
                                });
                                let Some((&locator, row)) = located else {
                                    return Err(WriteError::SkippedUnknown(position));
                                };
                                return Err(WriteError::Duplicate {
                                    locator,
                                    row_id: row.row_id.clone(),
                                });
                            }
                            count += batch.rows.len();
                        }
                        Some(Command::Commit { name, columns }) => {
                            let count = i32::try_from(count).map_err(StoreError::from)?;
                            return Ok(ReferenceDataset::finish(
                                conn, dataset_id, &name, &columns, count,
                            )
                            .await?);
                        }
                        None => return Err(WriteError::Abandoned),
                    }
                }
            })
            .await
        }));
        DatasetWriter {
            dataset_id,
            source,
            id_column,
            sender,
            task,
            batch: Batch::with_capacity(BATCH_ROWS),
            batch_bytes: 0,
            rows: 0,
        }
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> i32 {
        self.rows
    }

    /// The id a row without an id column gets: `row-1`, `row-2`, ... by position.
    pub fn generated_id(position: i32) -> String {
        format!("row-{position}")
    }

    /// Adds a row (`row_id` already checked to be non-empty); `locator` is its line (CSV) or
    /// index (JSON).
    pub async fn push(
        &mut self,
        row_id: String,
        cells: Vec<Option<String>>,
        locator: u64,
    ) -> Result<(), ApiError> {
        self.rows = self.rows.checked_add(1).ok_or_else(|| {
            ApiError::validation("rows", format!("at most {} rows per dataset", i32::MAX))
        })?;
        self.batch_bytes += row_id.len()
            + cells
                .iter()
                .map(|c| c.as_ref().map_or(0, String::len) + 8)
                .sum::<usize>();
        self.batch.rows.push(ReferenceRow {
            dataset_id: self.dataset_id,
            position: self.rows,
            row_id,
            cells,
        });
        self.batch.locators.push(locator);
        if self.batch.rows.len() >= BATCH_ROWS || self.batch_bytes >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        let batch = std::mem::replace(&mut self.batch, Batch::with_capacity(BATCH_ROWS));
        self.batch_bytes = 0;
        if self.sender.send(Command::Insert(batch)).await.is_err() {
            // The writer stopped: its result says why.
            return Err(self.outcome().await.err().unwrap_or_else(|| {
                ApiError::Internal("the writer committed before the upload ended".into())
            }));
        }
        Ok(())
    }

    /// Sends what is buffered and commits the dataset with its final name and columns.
    pub async fn commit(
        mut self,
        name: String,
        columns: Vec<ReferenceColumn>,
    ) -> Result<ReferenceDataset, ApiError> {
        if !self.batch.rows.is_empty() {
            self.flush().await?;
        }
        if self
            .sender
            .send(Command::Commit { name, columns })
            .await
            .is_err()
        {
            return Err(self.outcome().await.err().unwrap_or_else(|| {
                ApiError::Internal("the writer committed before the upload ended".into())
            }));
        }
        self.outcome().await
    }

    async fn outcome(&mut self) -> Result<ReferenceDataset, ApiError> {
        match (&mut self.task).await {
            Ok(Ok(dataset)) => Ok(dataset),
            Ok(Err(WriteError::Duplicate { locator, row_id })) => {
                Err(self.duplicate_error(locator, &row_id))
            }
            Ok(Err(error)) => Err(ApiError::internal(error)),
            Err(error) => Err(ApiError::internal(error)),
        }
    }

    fn duplicate_error(&self, locator: u64, row_id: &str) -> ApiError {
        let column = self.id_column.as_deref().unwrap_or("row_id");
        match self.source {
            Source::Csv => ApiError::Validation {
                field: Some(column.to_owned()),
                line: Some(locator),
                message: format!(
                    "line {locator}: duplicate id `{row_id}` in column `{column}`: ids must be unique"
                ),
            },
            Source::Json => {
                let field = format!("rows[{locator}].{column}");
                ApiError::Validation {
                    message: format!(
                        "`{field}`: duplicate id `{row_id}`: ids must be unique"
                    ),
                    field: Some(field),
                    line: None,
                }
            }
        }
    }
}

impl Batch {
    fn with_capacity(rows: usize) -> Batch {
        Batch {
            rows: Vec::with_capacity(rows),
            locators: Vec::with_capacity(rows),
        }
    }
}
