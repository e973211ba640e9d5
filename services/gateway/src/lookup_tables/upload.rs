//! Reading a lookup table from a request body — JSON, a `text/csv` body or the `file` part of a
//! `multipart/form-data` body — into checked entries. Every entry is checked as it is read; the
//! first bad one is a 422 naming it (JSON: `entries[7].code`, CSV: its line and column), before
//! anything is stored.
//!
//! Entries: `code` and `label` are trimmed and must not be empty (a CSV's empty label cell takes
//! the code); aliases are trimmed, empty ones dropped and repeats removed; codes, labels and
//! aliases must not hold control characters; a code may appear once per upload. A CSV's header
//! names the columns: `code` and `label` (required), `aliases` (optional, split on `|`) and any
//! others, whose non-empty cells become string attributes.

use std::collections::{HashMap, HashSet};

use actix_web::web;
use concord_models::lookup_tables::NewLookupEntry;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::codec::csv_reader::{self, CsvFormat, CsvReader};
use crate::codec::form::{no_file, Form, FormEvent};
use crate::error::ApiError;
use crate::extract::parse_json;

/// Most entries in one table version.
pub const MAX_ENTRIES: usize = 100_000;
pub const MAX_CODE_CHARS: usize = 200;
pub const MAX_LABEL_CHARS: usize = 1_000;
pub const MAX_ALIASES: usize = 1_000;
pub const MAX_ALIAS_CHARS: usize = 1_000;
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// Longest CSV record (one entry, all its fields).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Longest text part (`name`, `description`, `extends`) of a multipart upload.
const MAX_TEXT_PART_BYTES: usize = 16 * 1024;
/// The separator of aliases in a CSV cell.
pub const CSV_ALIAS_SEPARATOR: char = '|';

/// A table as uploaded: its fields as given (checked by the caller) and its checked entries.
#[derive(Debug, Default)]
pub struct Upload {
    pub name: Option<String>,
    pub description: Option<String>,
    pub extends: Option<String>,
    pub entries: Vec<NewLookupEntry>,
}

// --- entries -------------------------------------------------------------------------------

/// Where an entry was read: the JSON index or the CSV line.
#[derive(Debug, Clone, Copy)]
enum At {
    Json(usize),
    Line(u64),
}

impl At {
    /// A 422 about `field` of this entry (`aliases[2]`, or a CSV column).
    fn error(self, field: &str, message: impl std::fmt::Display) -> ApiError {
        match self {
            At::Json(index) => {
                let path = format!("entries[{index}].{field}");
                ApiError::Validation {
                    message: format!("`{path}`: {message}"),
                    field: Some(path),
                    line: None,
                }
            }
            At::Line(line) => ApiError::Validation {
                message: format!("line {line}, column `{field}`: {message}"),
                field: Some(field.to_owned()),
                line: Some(line),
            },
        }
    }

    fn describe(self) -> String {
        match self {
            At::Json(index) => format!("entries[{index}]"),
            At::Line(line) => format!("line {line}"),
        }
    }
}

/// The entries read so far, with the first place each code was seen.
#[derive(Debug, Default)]
struct Entries {
    list: Vec<NewLookupEntry>,
    seen: HashMap<String, At>,
}

/// A trimmed text without control characters, 1 to `max` characters.
fn clean_text(at: At, field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(at.error(field, "must not be empty"));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(at.error(
            field,
            format!(
                "must not contain control characters (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    if text.chars().count() > max {
        return Err(at.error(field, format!("must be at most {max} characters")));
    }
    Ok(text.to_owned())
}

impl Entries {
    fn push<'a>(
        &mut self,
        at: At,
        code: &str,
        label: &str,
        aliases: impl Iterator<Item = (String, &'a str)>,
        attributes: Map<String, Value>,
    ) -> Result<(), ApiError> {
        if self.list.len() == MAX_ENTRIES {
            return Err(at.error(
                "code",
                format!("a table holds at most {MAX_ENTRIES} entries"),
            ));
        }
        let code = clean_text(at, "code", code, MAX_CODE_CHARS)?;
        if let Some(first) = self.seen.get(&code) {
            return Err(at.error(
                "code",
                format!(
                    "the code `{code}` is repeated (first at {}): codes must be unique",
                    first.describe()
                ),
            ));
        }
        let label = clean_text(at, "label", label, MAX_LABEL_CHARS)?;
        let mut kept: Vec<String> = Vec::new();
        let mut seen_aliases: HashSet<String> = HashSet::new();
        for (field, alias) in aliases {
            if alias.trim().is_empty() {
                continue;
            }
            let alias = clean_text(at, &field, alias, MAX_ALIAS_CHARS)?;
            if seen_aliases.insert(alias.clone()) {
                if kept.len() == MAX_ALIASES {
                    return Err(at.error(
                        &field,
                        format!("an entry has at most {MAX_ALIASES} aliases"),
                    ));
                }
                kept.push(alias);
            }
        }
        for name in attributes.keys() {
            if name.trim().is_empty() || name.chars().count() > MAX_ATTRIBUTE_NAME_CHARS {
                return Err(at.error(
                    "attributes",
                    format!(
                        "attribute names must be 1 to {MAX_ATTRIBUTE_NAME_CHARS} characters (got `{name}`)"
                    ),
                ));
            }
        }
        self.seen.insert(code.clone(), at);
        self.list.push(NewLookupEntry {
            code,
            label,
            aliases: kept,
            attributes,
        });
        Ok(())
    }
}

fn empty_body() -> ApiError {
    ApiError::validation("body", "the request body is empty")
}

// --- JSON ----------------------------------------------------------------------------------

/// `{"name", "description", "extends", "entries": [...]}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LookupTableUpload, example = json!({"name": "cost-centres", "description": "Our cost centres", "entries": [{"code": "CC-100", "label": "Research", "aliases": ["R&D"]}]}))]
pub(crate) struct JsonUpload {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    extends: Option<String>,
    #[serde(default)]
    entries: Vec<JsonEntry>,
}

/// One entry of an upload.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LookupEntryUpload)]
struct JsonEntry {
    code: String,
    label: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
}

pub fn read_json(body: &[u8]) -> Result<Upload, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(empty_body());
    }
    let upload: JsonUpload = parse_json(body)?;
    if upload.entries.len() > MAX_ENTRIES {
        return Err(ApiError::validation(
            "entries",
            format!("a table holds at most {MAX_ENTRIES} entries"),
        ));
    }
    let mut entries = Entries::default();
    for (index, entry) in upload.entries.into_iter().enumerate() {
        entries.push(
            At::Json(index),
            &entry.code,
            &entry.label,
            entry
                .aliases
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("aliases[{i}]"), a.as_str())),
            entry.attributes,
        )?;
    }
    Ok(Upload {
        name: upload.name,
        description: upload.description,
        extends: upload.extends,
        entries: entries.list,
    })
}

// --- CSV -----------------------------------------------------------------------------------

/// Which column holds what, from the header.
#[derive(Debug)]
struct Header {
    names: Vec<String>,
    code: usize,
    label: usize,
    aliases: Option<usize>,
}

fn line_error(line: u64, message: impl std::fmt::Display) -> ApiError {
    ApiError::Validation {
        field: None,
        line: Some(line),
        message: format!("line {line}: {message}"),
    }
}

/// A CSV read piece by piece into entries.
pub struct CsvTable {
    reader: CsvReader,
    header: Option<Header>,
    entries: Entries,
}

impl CsvTable {
    pub fn new(format: CsvFormat) -> CsvTable {
        CsvTable {
            reader: CsvReader::new(format, MAX_RECORD_BYTES),
            header: None,
            entries: Entries::default(),
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.reader.push(chunk);
        while self.reader.next_record()? {
            self.record()?;
        }
        Ok(())
    }

    /// Ends the CSV: its entries (none when it has only a header).
    pub fn finish(mut self) -> Result<Vec<NewLookupEntry>, ApiError> {
        self.reader.end();
        while self.reader.next_record()? {
            self.record()?;
        }
        if self.header.is_none() {
            return Err(ApiError::validation(
                "body",
                "the CSV is empty: expected a header line with `code` and `label` columns, then one entry a line",
            ));
        }
        Ok(self.entries.list)
    }

    fn record(&mut self) -> Result<(), ApiError> {
        let line = self.reader.record_line();
        let mut cells: Vec<&str> = Vec::with_capacity(self.reader.field_count());
        for (index, field) in self.reader.fields().enumerate() {
            let cell = std::str::from_utf8(field).map_err(|_| {
                line_error(line, csv_reader::not_utf8(&format!("field {}", index + 1)))
            })?;
            crate::extract::reject_nul(&format!("field {}", index + 1), Some(line), cell)?;
            cells.push(cell);
        }
        let Some(header) = &self.header else {
            self.header = Some(read_header(line, &cells)?);
            return Ok(());
        };
        if cells.len() != header.names.len() {
            return Err(line_error(
                line,
                format!(
                    "expected {} fields as in the header, found {}",
                    header.names.len(),
                    cells.len()
                ),
            ));
        }
        let code = cells[header.code];
        let label = match cells[header.label].trim() {
            "" => code,
            label => label,
        };
        let aliases_cell = header.aliases.map_or("", |index| cells[index]);
        let mut attributes = Map::new();
        for (index, (name, cell)) in header.names.iter().zip(&cells).enumerate() {
            if index == header.code || index == header.label || Some(index) == header.aliases {
                continue;
            }
            if !cell.is_empty() {
                attributes.insert(name.clone(), Value::String((*cell).to_owned()));
            }
        }
        self.entries.push(
            At::Line(line),
            code,
            label,
            aliases_cell
                .split(CSV_ALIAS_SEPARATOR)
                .map(|alias| ("aliases".to_owned(), alias)),
            attributes,
        )
    }
}

fn read_header(line: u64, cells: &[&str]) -> Result<Header, ApiError> {
    let mut names: Vec<String> = Vec::with_capacity(cells.len());
    for (index, cell) in cells.iter().enumerate() {
        let name = cell.trim();
        if name.is_empty() {
            return Err(line_error(
                line,
                format!("column {} of the header has no name", index + 1),
            ));
        }
        if name.chars().count() > MAX_ATTRIBUTE_NAME_CHARS {
            return Err(line_error(
                line,
                format!(
                    "column {} has a name longer than {MAX_ATTRIBUTE_NAME_CHARS} characters",
                    index + 1
                ),
            ));
        }
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(line_error(
                line,
                format!("the header names the column `{name}` twice"),
            ));
        }
        names.push(name.to_owned());
    }
    let position = |wanted: &str| names.iter().position(|n| n.eq_ignore_ascii_case(wanted));
    let missing = |column: &str| {
        ApiError::Validation {
        field: Some(column.to_owned()),
        line: Some(line),
        message: format!(
            "line {line}: the header has no `{column}` column (it has {}); a lookup table CSV needs `code` and `label`, optionally `aliases` (split on `|`) and other columns as attributes",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    };
    let code = position("code").ok_or_else(|| missing("code"))?;
    let label = position("label").ok_or_else(|| missing("label"))?;
    let aliases = position("aliases");
    Ok(Header {
        names,
        code,
        label,
        aliases,
    })
}

/// The query of a table upload: the table's fields (a multipart form may give them as parts
/// instead) and the CSV's format.
#[derive(Debug, Default, serde::Deserialize)]
pub struct UploadParams {
    pub name: Option<String>,
    pub description: Option<String>,
    pub extends: Option<String>,
    #[serde(flatten)]
    pub csv: crate::codec::CsvFormatParams,
}

/// Reads a `text/csv` body (up to `limit` bytes); the table's fields come from the query.
pub async fn read_csv(
    mut payload: web::Payload,
    limit: usize,
    query: &UploadParams,
) -> Result<Upload, ApiError> {
    let mut table = CsvTable::new(query.csv.format()?);
    let mut read = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
        read += chunk.len();
        if read > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        table.feed(&chunk)?;
    }
    if read == 0 {
        return Err(empty_body());
    }
    Ok(Upload {
        name: query.name.clone(),
        description: query.description.clone(),
        extends: query.extends.clone(),
        entries: table.finish()?,
    })
}

/// Reads a `multipart/form-data` body (up to `limit` bytes): a `file` part holding the CSV and
/// optional text parts `name`, `description` and `extends` (else the query's). Other parts are
/// ignored.
pub async fn read_multipart(
    payload: web::Payload,
    limit: usize,
    content_type: &str,
    query: &UploadParams,
) -> Result<Upload, ApiError> {
    let format = query.csv.format()?;
    let mut form = Form::new(
        content_type,
        payload,
        &["name", "description", "extends"],
        MAX_TEXT_PART_BYTES,
        Some(limit),
    )?;
    let mut upload = Upload {
        name: query.name.clone(),
        description: query.description.clone(),
        extends: query.extends.clone(),
        entries: Vec::new(),
    };
    let mut table: Option<CsvTable> = None;
    while let Some(event) = form.next().await? {
        match event {
            FormEvent::File => table = Some(CsvTable::new(format)),
            FormEvent::FileData(bytes) => {
                if let Some(table) = table.as_mut() {
                    table.feed(&bytes)?;
                }
            }
            FormEvent::Text { field, value } => match field.as_str() {
                "name" => upload.name = Some(value),
                "description" => upload.description = Some(value),
                _ => upload.extends = Some(value),
            },
        }
    }
    upload.entries = table.ok_or_else(no_file)?.finish()?;
    Ok(upload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Vec<NewLookupEntry>, ApiError> {
        let mut table = CsvTable::new(CsvFormat::default());
        for piece in text.as_bytes().chunks(3) {
            table.feed(piece)?;
        }
        table.finish()
    }

    fn line_of(error: &ApiError) -> Option<u64> {
        match error {
            ApiError::Validation { line, .. } => *line,
            _ => None,
        }
    }

    fn field_of(error: &ApiError) -> Option<String> {
        match error {
            ApiError::Validation { field, .. } => field.clone(),
            _ => None,
        }
    }

    #[test]
    fn a_csv_gives_aliases_attributes_and_default_labels() {
        let entries =
            csv("Code,label,aliases,region\nDE,Germany,Deutschland| DEU ||DEU,EU\nXX,,,\n")
                .expect("valid");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].code, "DE");
        assert_eq!(entries[0].aliases, vec!["Deutschland", "DEU"]);
        assert_eq!(entries[0].attributes["region"], "EU");
        assert_eq!(entries[1].label, "XX");
        assert!(entries[1].aliases.is_empty());
        assert!(entries[1].attributes.is_empty());
    }

    #[test]
    fn csv_errors_name_their_line() {
        let error = csv("code,label\nA,a\n\nB,b\nA,again\n").expect_err("duplicate");
        assert_eq!(line_of(&error), Some(5));
        assert!(error.to_string().contains("first at line 2"), "{error}");

        let error = csv("id,label\nA,a\n").expect_err("no code column");
        assert_eq!(line_of(&error), Some(1));
        assert_eq!(field_of(&error).as_deref(), Some("code"));

        let error = csv("code,label\n,a\n").expect_err("empty code");
        assert_eq!(line_of(&error), Some(2));

        let error = csv("code,label\nA,\"x\u{1f}y\"\n").expect_err("control character");
        assert_eq!(field_of(&error).as_deref(), Some("label"));

        let error = csv("code,label\nA,a,extra\n").expect_err("too many fields");
        assert_eq!(line_of(&error), Some(2));

        assert!(csv("").is_err());
        assert_eq!(csv("code,label\n").expect("header only").len(), 0);
    }

    #[test]
    fn json_errors_name_the_entry() {
        let body = br#"{"name": "t", "entries": [{"code": "A", "label": "a"}, {"code": " A ", "label": "b"}]}"#;
        let error = read_json(body).expect_err("duplicate");
        assert_eq!(field_of(&error).as_deref(), Some("entries[1].code"));
        assert!(error.to_string().contains("first at entries[0]"), "{error}");

        let body = br#"{"entries": [{"code": "A", "label": "a", "aliases": ["ok", "bad\u0007"]}]}"#;
        let error = read_json(body).expect_err("control character");
        assert_eq!(field_of(&error).as_deref(), Some("entries[0].aliases[1]"));

        let body = br#"{"entries": [{"code": "A", "label": "  "}]}"#;
        let error = read_json(body).expect_err("empty label");
        assert_eq!(field_of(&error).as_deref(), Some("entries[0].label"));

        assert!(read_json(b"  ").is_err());
    }
}
