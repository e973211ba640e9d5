//! How reference datasets and their rows look in the API.

use chrono::{DateTime, Utc};
use concord_models::reference_datasets::{ReferenceColumn, ReferenceDataset, ReferenceRow};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// A reference dataset.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "01938f60-1b2c-7d4e-8f90-a1b2c3d4e5f6", "name": "Ledger 2024", "id_column": "invoice_id", "columns": [{"name": "invoice_id", "type": "string", "non_empty": 2}, {"name": "amount", "type": "number", "non_empty": 2}], "row_count": 2, "created_at": "2026-03-31T09:10:00Z", "links": {"self": "/v1/reference-data/01938f60-1b2c-7d4e-8f90-a1b2c3d4e5f6", "rows": "/v1/reference-data/01938f60-1b2c-7d4e-8f90-a1b2c3d4e5f6/rows", "export": "/v1/reference-data/01938f60-1b2c-7d4e-8f90-a1b2c3d4e5f6/export"}}))]
pub struct DatasetView {
    pub id: String,
    pub name: String,
    /// The column whose values are the row ids; null when ids were generated (`row-1`, ...).
    pub id_column: Option<String>,
    /// Its columns in order, with their inferred types.
    #[schema(value_type = Vec<crate::openapi::schemas::ReferenceColumnSchema>)]
    pub columns: Vec<ReferenceColumn>,
    pub row_count: i32,
    pub created_at: DateTime<Utc>,
    pub links: DatasetLinks,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DatasetLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub rows: String,
    pub export: String,
}

pub fn dataset_path(id: impl std::fmt::Display) -> String {
    format!("/v1/reference-data/{id}")
}

impl From<ReferenceDataset> for DatasetView {
    fn from(dataset: ReferenceDataset) -> Self {
        let path = dataset_path(dataset.id);
        DatasetView {
            links: DatasetLinks {
                rows: format!("{path}/rows"),
                export: format!("{path}/export"),
                self_: path,
            },
            id: dataset.id.to_string(),
            columns: dataset.columns().to_vec(),
            name: dataset.name,
            id_column: dataset.id_column,
            row_count: dataset.row_count,
            created_at: dataset.created_at,
        }
    }
}

/// One row: `{row_id, position, values: {column: value or null}}`, the values in column order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowView {
    pub row_id: String,
    pub position: i32,
    /// Column → value (null: an empty cell), in column order.
    #[schema(value_type = std::collections::BTreeMap<String, Option<String>>)]
    pub values: RowValues,
}

#[derive(Debug)]
pub struct RowValues {
    columns: std::sync::Arc<[String]>,
    cells: Vec<Option<String>>,
}

impl Serialize for RowValues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.columns.len()))?;
        for (index, column) in self.columns.iter().enumerate() {
            map.serialize_entry(column, &self.cells.get(index).and_then(|c| c.as_deref()))?;
        }
        map.end()
    }
}

impl RowView {
    pub fn new(columns: std::sync::Arc<[String]>, row: ReferenceRow) -> RowView {
        RowView {
            row_id: row.row_id,
            position: row.position,
            values: RowValues {
                columns,
                cells: row.cells,
            },
        }
    }
}
