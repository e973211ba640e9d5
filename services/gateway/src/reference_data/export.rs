//! `GET /v1/reference-data/{id}/export`: the dataset as CSV (RFC 4180, `\r\n` line breaks),
//! streamed page by page from the database, so that exporting millions of rows holds one page
//! in memory. The first column is the id column (or `row_id` for generated ids), then the other
//! columns in upload order; empty cells are empty fields.

use bytes::{Bytes, BytesMut};
use concord_models::database::connection;
use concord_models::ids::ReferenceDatasetId;
use concord_models::reference_datasets::{ReferenceDataset, ReferenceRow};
use concord_models::DbPool;
use futures_util::Stream;

use crate::codec::csv_writer::write_record;
use crate::error::ApiError;

/// Rows read from the database per page.
const PAGE_ROWS: i64 = 5_000;

/// What the export writes for a dataset: its header and which cell columns follow the id.
struct Layout {
    header: Vec<String>,
    /// The indexes of the cells written after the row id (every column but the id column).
    cells: Vec<usize>,
}

impl Layout {
    fn of(dataset: &ReferenceDataset) -> Layout {
        let columns = dataset.columns();
        let id_index = dataset.id_column_index();
        let mut id_name = match (&dataset.id_column, id_index) {
            (Some(name), Some(_)) => name.clone(),
            _ => "row_id".to_owned(),
        };
        if id_index.is_none() {
            // Generated ids: a column may already be called `row_id`.
            while columns.iter().any(|c| c.name == id_name) {
                id_name.insert(0, '_');
            }
        }
        let cells: Vec<usize> = (0..columns.len())
            .filter(|i| Some(*i) != id_index)
            .collect();
        let mut header = vec![id_name];
        header.extend(cells.iter().map(|i| columns[*i].name.clone()));
        Layout { header, cells }
    }
}

enum Step {
    Header,
    Rows { after: i32 },
    Done,
}

struct Export {
    pool: DbPool,
    dataset_id: ReferenceDatasetId,
    layout: Layout,
    step: Step,
}

/// The CSV of the dataset, as a stream of chunks.
pub fn csv_stream(
    pool: DbPool,
    dataset: &ReferenceDataset,
) -> impl Stream<Item = Result<Bytes, ApiError>> + 'static {
    let export = Export {
        pool,
        dataset_id: dataset.id,
        layout: Layout::of(dataset),
        step: Step::Header,
    };
    futures_util::stream::unfold(export, |mut export| async move {
        match export.step {
            Step::Done => None,
            Step::Header => {
                let mut out = BytesMut::new();
                write_record(
                    &mut out,
                    export.layout.header.iter().map(|h| Some(h.as_str())),
                );
                export.step = Step::Rows { after: 0 };
                Some((Ok(out.freeze()), export))
            }
            Step::Rows { after } => match page(&export, after).await {
                Ok((bytes, last)) => {
                    export.step = match last {
                        Some(last) => Step::Rows { after: last },
                        None => Step::Done,
                    };
                    if bytes.is_empty() {
                        return None;
                    }
                    Some((Ok(bytes), export))
                }
                Err(error) => {
                    tracing::error!(error = %error, dataset_id = %export.dataset_id, "export failed");
                    export.step = Step::Done;
                    Some((Err(error), export))
                }
            },
        }
    })
}

/// One page as CSV, and the position to continue after (`None` at the end).
async fn page(export: &Export, after: i32) -> Result<(Bytes, Option<i32>), ApiError> {
    let rows = {
        let mut conn = connection(&export.pool).await?;
        ReferenceRow::list(&mut conn, export.dataset_id, Some(after), PAGE_ROWS).await?
    };
    let full = i64::try_from(rows.len()) == Ok(PAGE_ROWS);
    let last = rows.last().map(|row| row.position);
    let mut out = BytesMut::with_capacity(rows.len() * 64);
    for row in &rows {
        let cells = export
            .layout
            .cells
            .iter()
            .map(|i| row.cells.get(*i).and_then(|c| c.as_deref()));
        write_record(
            &mut out,
            std::iter::once(Some(row.row_id.as_str())).chain(cells),
        );
    }
    Ok((out.freeze(), if full { last } else { None }))
}
