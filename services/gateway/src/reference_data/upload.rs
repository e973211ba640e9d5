//! Uploads: a JSON body, or a CSV streamed from a `text/csv` body or the `file` part of a
//! `multipart/form-data` body. Every row is validated as it arrives and handed to a
//! [`DatasetWriter`]; the first bad row stops the upload with a 422 naming it (CSV: its line,
//! JSON: `rows[i]`), and the writer's transaction rolls back, so nothing is stored.

use std::collections::HashMap;
use std::time::Instant;

use actix_web::web;
use concord_models::ids::OrganizationId;
use concord_models::reference_datasets::ReferenceDataset;
use futures_util::StreamExt;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::columns::ColumnInference;
use super::writer::{DatasetWriter, Source};
use crate::codec::csv_reader::{self, CsvFormat, CsvReader};
use crate::codec::form::{no_file, Form, FormEvent};
use crate::error::ApiError;
use crate::extract::parse_json;
use crate::names::Name;
use crate::state::AppState;

pub const MAX_COLUMN_NAME_CHARS: usize = 200;
pub const MAX_COLUMNS: usize = 1_000;
/// Longest CSV record (one row, all its fields).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Longest text part (`name`, `id_column`) of a multipart upload.
const MAX_TEXT_PART_BYTES: usize = 4 * 1024;

/// A dataset's name (a [`Name`]); required.
pub fn dataset_name(raw: Option<&str>) -> Result<String, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::validation("name", "`name` is required"))?;
    Ok(Name::parse("name", raw)?.into_string())
}

/// An optional `id_column`: absent or empty means generated ids.
fn id_column(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

fn unknown_id_column(column: &str, line: Option<u64>) -> ApiError {
    ApiError::Validation {
        field: Some("id_column".to_owned()),
        line,
        message: format!("`id_column`: the upload has no column `{column}`"),
    }
}

// --- CSV -----------------------------------------------------------------------------------

/// The state of one CSV upload: the parser, the header once read, the running type inference
/// and the writer.
pub struct CsvIngest {
    reader: CsvReader,
    id_column: Option<String>,
    id_index: Option<usize>,
    inference: Option<ColumnInference>,
    writer: DatasetWriter,
    started: Instant,
}

impl CsvIngest {
    pub fn start(
        state: &AppState,
        organization_id: OrganizationId,
        provisional_name: &str,
        id_column: Option<String>,
        format: CsvFormat,
    ) -> CsvIngest {
        CsvIngest {
            reader: CsvReader::new(format, MAX_RECORD_BYTES),
            writer: DatasetWriter::start(
                state,
                organization_id,
                provisional_name,
                id_column.clone(),
                Source::Csv,
            ),
            id_column,
            id_index: None,
            inference: None,
            started: Instant::now(),
        }
    }

    /// Reads a piece of the CSV, storing every row it completes.
    pub async fn feed(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.reader.push(chunk);
        while self.reader.next_record()? {
            self.record().await?;
        }
        Ok(())
    }

    /// Ends the CSV and commits the dataset under `name`.
    pub async fn finish(mut self, name: String) -> Result<ReferenceDataset, ApiError> {
        self.reader.end();
        while self.reader.next_record()? {
            self.record().await?;
        }
        let Some(inference) = self.inference.take() else {
            return Err(ApiError::validation(
                "body",
                "the CSV is empty: expected a header line and at least one row",
            ));
        };
        if self.writer.rows() == 0 {
            return Err(ApiError::validation(
                "body",
                "the CSV has a header but no rows",
            ));
        }
        let rows = self.writer.rows();
        let columns = inference.columns();
        let dataset = self.writer.commit(name, columns).await?;
        tracing::info!(
            dataset_id = %dataset.id,
            rows,
            lines = self.reader.record_line(),
            elapsed_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "reference dataset stored from CSV"
        );
        Ok(dataset)
    }

    async fn record(&mut self) -> Result<(), ApiError> {
        let line = self.reader.record_line();
        let Some(inference) = self.inference.as_mut() else {
            return self.header(line);
        };
        let expected = inference.names().len();
        if self.reader.field_count() != expected {
            return Err(ApiError::Validation {
                field: None,
                line: Some(line),
                message: format!(
                    "line {line}: expected {expected} fields as in the header, found {}",
                    self.reader.field_count()
                ),
            });
        }
        let mut cells = Vec::with_capacity(expected);
        for (index, field) in self.reader.fields().enumerate() {
            if field.is_empty() {
                cells.push(None);
                continue;
            }
            let text = std::str::from_utf8(field).map_err(|_| ApiError::Validation {
                field: inference.names().get(index).cloned(),
                line: Some(line),
                message: format!(
                    "line {line}: {}",
                    csv_reader::not_utf8(&format!(
                        "the value of column `{}`",
                        inference.names().get(index).map_or("", String::as_str)
                    ))
                ),
            })?;
            let column = inference.names().get(index).map_or("", String::as_str);
            crate::extract::reject_nul(column, Some(line), text)?;
            inference.observe(index, text);
            cells.push(Some(text.to_owned()));
        }
        let row_id = match self.id_index {
            None => DatasetWriter::generated_id(self.writer.rows() + 1),
            Some(index) => match cells.get(index).and_then(|c| c.as_deref()).map(str::trim) {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => {
                    let column = self.id_column.as_deref().unwrap_or("");
                    return Err(ApiError::Validation {
                        field: Some(column.to_owned()),
                        line: Some(line),
                        message: format!(
                            "line {line}: empty id: every row needs a value in the id column `{column}`"
                        ),
                    });
                }
            },
        };
        self.writer.push(row_id, cells, line).await
    }

    fn header(&mut self, line: u64) -> Result<(), ApiError> {
        let at_header = |message: String| ApiError::Validation {
            field: None,
            line: Some(line),
            message: format!("line {line}: {message}"),
        };
        if self.reader.field_count() > MAX_COLUMNS {
            return Err(at_header(format!("more than {MAX_COLUMNS} columns")));
        }
        let mut names: Vec<String> = Vec::with_capacity(self.reader.field_count());
        for (index, field) in self.reader.fields().enumerate() {
            let name = std::str::from_utf8(field)
                .map_err(|_| at_header(csv_reader::not_utf8(&format!("column {}", index + 1))))?
                .trim();
            if name.contains('\0') {
                return Err(at_header(format!(
                    "the name of column {} holds a NUL character (U+0000)",
                    index + 1
                )));
            }
            if name.is_empty() {
                return Err(at_header(format!(
                    "the header names no column {}: every column needs a name",
                    index + 1
                )));
            }
            if name.chars().count() > MAX_COLUMN_NAME_CHARS {
                return Err(at_header(format!(
                    "column {} has a name longer than {MAX_COLUMN_NAME_CHARS} characters",
                    index + 1
                )));
            }
            if names.iter().any(|n| n == name) {
                return Err(at_header(format!(
                    "duplicate column name `{name}` in the header"
                )));
            }
            names.push(name.to_owned());
        }
        if let Some(column) = &self.id_column {
            self.id_index = Some(
                names
                    .iter()
                    .position(|n| n == column)
                    .ok_or_else(|| unknown_id_column(column, Some(line)))?,
            );
        }
        self.inference = Some(ColumnInference::new(names));
        Ok(())
    }
}

/// The query of an upload: the dataset's `name` and `id_column` (a multipart form may give them
/// as parts instead), and the CSV's format.
#[derive(Debug, Default, serde::Deserialize)]
pub struct UploadParams {
    pub name: Option<String>,
    pub id_column: Option<String>,
    #[serde(flatten)]
    pub csv: crate::codec::CsvFormatParams,
}

/// `POST` with `text/csv`: the body is the CSV; `name` and `id_column` come from the query.
pub async fn store_csv(
    state: &AppState,
    organization_id: OrganizationId,
    query: &UploadParams,
    mut payload: web::Payload,
) -> Result<ReferenceDataset, ApiError> {
    let name = dataset_name(query.name.as_deref())?;
    let id_column = id_column(query.id_column.as_deref());
    let format = query.csv.format()?;
    let mut ingest = CsvIngest::start(state, organization_id, &name, id_column, format);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
        ingest.feed(&chunk).await?;
    }
    ingest.finish(name).await
}

/// `POST` with `multipart/form-data`: a `file` part holding the CSV, and optional text parts
/// `name` and `id_column` (else the query's). `id_column` must come before `file`; `name` may
/// come anywhere. Other parts are ignored.
pub async fn store_multipart(
    state: &AppState,
    organization_id: OrganizationId,
    content_type: &str,
    query: &UploadParams,
    payload: web::Payload,
) -> Result<ReferenceDataset, ApiError> {
    let format = query.csv.format()?;
    let mut form = Form::new(
        content_type,
        payload,
        &["name", "id_column"],
        MAX_TEXT_PART_BYTES,
        None,
    )?;
    let mut name = query.name.clone();
    let mut id_column_text = query.id_column.clone();
    let mut ingest: Option<CsvIngest> = None;
    while let Some(event) = form.next().await? {
        match event {
            FormEvent::File => {
                let provisional = name.as_deref().map(str::trim).unwrap_or("");
                ingest = Some(CsvIngest::start(
                    state,
                    organization_id,
                    provisional,
                    id_column(id_column_text.as_deref()),
                    format,
                ));
            }
            FormEvent::FileData(bytes) => {
                if let Some(ingest) = ingest.as_mut() {
                    ingest.feed(&bytes).await?;
                }
            }
            FormEvent::Text { field, value } => match field.as_str() {
                "id_column" if ingest.is_some() => {
                    return Err(ApiError::validation(
                        "id_column",
                        "the `id_column` part must come before the `file` part",
                    ));
                }
                "id_column" => id_column_text = Some(value),
                _ => name = Some(value),
            },
        }
    }
    let ingest = ingest.ok_or_else(no_file)?;
    let name = dataset_name(name.as_deref())?;
    ingest.finish(name).await
}

// --- JSON ----------------------------------------------------------------------------------

/// `{"name", "id_column", "rows": [{"col": value, ...}]}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReferenceDataUpload, example = json!({"name": "Ledger 2024", "id_column": "invoice_id", "rows": [{"invoice_id": "L-1", "vendor": "Acme GmbH", "amount": "1234.50"}]}))]
pub struct JsonUpload {
    /// 1 to 200 characters.
    pub name: String,
    /// The column whose values are the row ids (unique); absent: generated (`row-1`, …).
    #[serde(default)]
    pub id_column: Option<String>,
    /// Column → value (a string, number or boolean; null or empty: no value).
    #[schema(value_type = Vec<std::collections::BTreeMap<String, serde_json::Value>>)]
    pub rows: Vec<JsonRow>,
}

/// One row: its columns in the order written (`None` for null or an empty string).
#[derive(Debug)]
pub struct JsonRow(pub Vec<(String, Option<String>)>);

impl<'de> Deserialize<'de> for JsonRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = JsonRow;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of column names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonRow, A::Error> {
                let mut cells: Vec<(String, Option<String>)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let JsonCell(value) = map.next_value()?;
                    match cells.iter_mut().find(|(k, _)| *k == key) {
                        Some(existing) => existing.1 = value,
                        None => cells.push((key, value)),
                    }
                }
                Ok(JsonRow(cells))
            }
        }
        deserializer.deserialize_map(RowVisitor)
    }
}

/// A cell: a string, number or boolean as its text; null (or `""`) as `None`.
struct JsonCell(Option<String>);

impl<'de> Deserialize<'de> for JsonCell {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl Visitor<'_> for CellVisitor {
            type Value = JsonCell;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, number, boolean or null (not an object or array)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonCell, E> {
                Ok(JsonCell((!v.is_empty()).then(|| v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<JsonCell, E> {
                Ok(JsonCell((!v.is_empty()).then_some(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<JsonCell, E> {
                Ok(JsonCell(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonCell, E> {
                Ok(JsonCell(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonCell, E> {
                Ok(JsonCell(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonCell, E> {
                Ok(JsonCell(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<JsonCell, E> {
                Ok(JsonCell(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<JsonCell, E> {
                Ok(JsonCell(None))
            }
        }
        deserializer.deserialize_any(CellVisitor)
    }
}

/// `POST` with `application/json`: the whole body (up to the JSON limit) is read and checked,
/// then stored through the same writer as a CSV.
pub async fn store_json(
    state: &AppState,
    organization_id: OrganizationId,
    body: &[u8],
) -> Result<ReferenceDataset, ApiError> {
    let started = Instant::now();
    let upload: JsonUpload = parse_json(body)?;
    let name = dataset_name(Some(&upload.name))?;
    let id_column = id_column(upload.id_column.as_deref());
    if upload.rows.is_empty() {
        return Err(ApiError::validation(
            "rows",
            "`rows` must hold at least one row",
        ));
    }
    // Columns in order of first appearance.
    let mut names: Vec<String> = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    for (i, row) in upload.rows.iter().enumerate() {
        for (key, _) in &row.0 {
            if index_of.contains_key(key.as_str()) {
                continue;
            }
            let field = format!("rows[{i}].{key}");
            if key.trim().is_empty() || key.chars().count() > MAX_COLUMN_NAME_CHARS {
                return Err(ApiError::validation(
                    &field,
                    format!(
                        "`{field}`: column names must be 1 to {MAX_COLUMN_NAME_CHARS} characters"
                    ),
                ));
            }
            if names.len() == MAX_COLUMNS {
                return Err(ApiError::validation(
                    &field,
                    format!("`{field}`: more than {MAX_COLUMNS} columns"),
                ));
            }
            index_of.insert(key.clone(), names.len());
            names.push(key.clone());
        }
    }
    let id_index = match &id_column {
        None => None,
        Some(column) => Some(
            *index_of
                .get(column.as_str())
                .ok_or_else(|| unknown_id_column(column, None))?,
        ),
    };
    let mut inference = ColumnInference::new(names.clone());
    let mut rows = Vec::with_capacity(upload.rows.len());
    for (i, JsonRow(values)) in upload.rows.into_iter().enumerate() {
        let mut cells: Vec<Option<String>> = vec![None; names.len()];
        for (key, value) in values {
            if let Some(&index) = index_of.get(&key) {
                if let Some(text) = &value {
                    inference.observe(index, text);
                }
                cells[index] = value;
            }
        }
        let row_id = match id_index {
            None => DatasetWriter::generated_id(i32::try_from(i + 1).map_err(ApiError::internal)?),
            Some(index) => match cells[index].as_deref().map(str::trim) {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => {
                    let field = format!("rows[{i}].{}", names[index]);
                    return Err(ApiError::validation(
                        &field,
                        format!("`{field}`: empty id: every row needs a value in the id column"),
                    ));
                }
            },
        };
        rows.push((row_id, cells));
    }
    let mut writer = DatasetWriter::start(state, organization_id, &name, id_column, Source::Json);
    for (i, (row_id, cells)) in rows.into_iter().enumerate() {
        writer.push(row_id, cells, i as u64).await?;
    }
    let count = writer.rows();
    let dataset = writer.commit(name, inference.columns()).await?;
    tracing::info!(
        dataset_id = %dataset.id,
        rows = count,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "reference dataset stored from JSON"
    );
    Ok(dataset)
}
