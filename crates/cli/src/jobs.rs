//! `concord jobs submit FILE --name N`: a job run from a file of documents.
//!
//! - `.ndjson`: streamed as it is to `POST /v1/jobs?name=` (`application/x-ndjson`).
//! - `.csv`: one document per row (`--id-column`, default `document_id`; `--filename-column`
//!   optional; every other column a value, an empty cell null), converted to NDJSON while it is
//!   sent, so a file of any size streams in flat memory. A line the API refuses is named by its
//!   CSV line.
//! - `.json`: `{"name"?, "documents": [...]}` or `[...]`, sent as one JSON body (the API takes
//!   up to 10,000 documents that way).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::api::Api;
use crate::error::CliError;
use crate::progress::{group, RecordCounter};
use crate::reference_data::{file_label, Delimiter};
use crate::stream::{file_body, open, send_counted, Counts};
use crate::{Context, Outcome};

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Submits a file of documents (CSV, NDJSON or JSON) as a new job run.
    Submit(SubmitArgs),
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The documents: `.csv`, `.ndjson` (or `.jsonl`) or `.json`.
    pub file: PathBuf,
    /// The job run's name.
    #[arg(long)]
    pub name: String,
    /// The file's format, when its extension does not say.
    #[arg(long, value_enum)]
    pub format: Option<JobFormat>,
    /// CSV: the column holding each document's id.
    #[arg(long, default_value = "document_id")]
    pub id_column: String,
    /// CSV: the column holding each document's file name (none without it).
    #[arg(long)]
    pub filename_column: Option<String>,
    /// CSV: the field separator.
    #[arg(long, value_enum, default_value_t = Delimiter::Comma)]
    pub delimiter: Delimiter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JobFormat {
    Csv,
    Ndjson,
    Json,
}

impl JobFormat {
    fn of(path: &Path) -> Result<JobFormat, CliError> {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match extension.as_deref() {
            Some("csv") => Ok(JobFormat::Csv),
            Some("ndjson" | "jsonl") => Ok(JobFormat::Ndjson),
            Some("json") => Ok(JobFormat::Json),
            _ => Err(CliError::Usage(format!(
                "{}: cannot tell the format from the extension; pass --format csv|ndjson|json",
                path.display()
            ))),
        }
    }
}

/// The parts of a job run the CLI shows.
#[derive(Debug, Deserialize)]
pub struct JobRun {
    pub id: String,
    pub name: String,
    pub status: String,
    pub document_count: u64,
}

pub async fn run(context: &mut Context<'_>, command: JobsCommand) -> Result<Outcome, CliError> {
    match command {
        JobsCommand::Submit(args) => submit(context, args).await,
    }
}

async fn submit(context: &mut Context<'_>, args: SubmitArgs) -> Result<Outcome, CliError> {
    let format = match args.format {
        Some(format) => format,
        None => JobFormat::of(&args.file)?,
    };
    let response = match format {
        JobFormat::Json => submit_json(context, &args).await?,
        JobFormat::Ndjson => submit_ndjson(context, &args).await?,
        JobFormat::Csv => submit_csv(context, &args).await?,
    };
    let answer = Api::read::<JobRun>(response).await?;
    let run = answer.value;
    Ok(Outcome {
        text: format!(
            "job run {} \"{}\": {} documents, {}\n",
            run.id,
            run.name,
            group(run.document_count),
            run.status
        ),
        document: answer.document,
    })
}

// --- JSON ------------------------------------------------------------------------------------

/// A document as the API takes it (`SubmittedDocument`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SubmittedDocument {
    document_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filename: Option<String>,
    values: BTreeMap<String, Option<String>>,
}

/// A `.json` job file: a submission (its name is replaced by `--name`) or a bare array.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmissionFile {
    #[serde(default, rename = "name")]
    _name: Option<serde::de::IgnoredAny>,
    documents: Vec<SubmittedDocument>,
}

#[derive(Debug, Serialize)]
struct Submission<'a> {
    name: &'a str,
    documents: Vec<SubmittedDocument>,
}

async fn submit_json(
    context: &mut Context<'_>,
    args: &SubmitArgs,
) -> Result<reqwest::Response, CliError> {
    let bytes = tokio::fs::read(&args.file)
        .await
        .map_err(|e| CliError::input(&args.file, None, format!("cannot read: {e}")))?;
    let documents = parse_json_documents(&args.file, &bytes)?;
    let body = serde_json::to_vec(&Submission {
        name: &args.name,
        documents,
    })
    .map_err(|e| CliError::Usage(format!("the request body cannot be written: {e}")))?;
    let request = context
        .api
        .request(Method::POST, context.api.url("/v1/jobs", &[])?)
        .header(CONTENT_TYPE, "application/json")
        .body(body);
    let mut bar = context.progress.transfer(&file_label(&args.file), None);
    bar.phase("sending");
    let response = context.api.send(request).await;
    bar.abandon();
    response
}

/// The documents of a `.json` job file; a problem names its JSON path and line.
fn parse_json_documents(path: &Path, bytes: &[u8]) -> Result<Vec<SubmittedDocument>, CliError> {
    let bare_array = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'[');
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = if bare_array {
        serde_path_to_error::deserialize::<_, Vec<SubmittedDocument>>(&mut deserializer)
            .map_err(|e| (e.path().to_string(), e.into_inner()))
    } else {
        serde_path_to_error::deserialize::<_, SubmissionFile>(&mut deserializer)
            .map(|file| file.documents)
            .map_err(|e| (e.path().to_string(), e.into_inner()))
    };
    let documents = parsed.map_err(|(at, error)| {
        let line = u64::try_from(error.line()).ok().filter(|l| *l > 0);
        let at = if at == "." {
            String::new()
        } else {
            format!("{at}: ")
        };
        CliError::input(path, line, format!("{at}{error}"))
    })?;
    deserializer
        .end()
        .map_err(|e| CliError::input(path, u64::try_from(e.line()).ok(), e.to_string()))?;
    Ok(documents)
}

// --- NDJSON ----------------------------------------------------------------------------------

async fn submit_ndjson(
    context: &mut Context<'_>,
    args: &SubmitArgs,
) -> Result<reqwest::Response, CliError> {
    let (file, size) = open(&args.file).await?;
    let (body, counts) = file_body(&args.file, file, RecordCounter::lines());
    let url = context.api.url("/v1/jobs", &[("name", &args.name)])?;
    let request = context
        .api
        .request(Method::POST, url)
        .header(CONTENT_TYPE, "application/x-ndjson")
        .body(body);
    let mut bar = context
        .progress
        .transfer(&file_label(&args.file), Some(size));
    let response = send_counted(&context.api, request, &counts, size, 0, &mut bar).await;
    match &response {
        Ok(_) => bar.finish(&format!("{} documents sent", group(counts.records()))),
        Err(_) => bar.abandon(),
    }
    response
}

// --- CSV -------------------------------------------------------------------------------------

/// NDJSON bytes handed to the body per message.
const NDJSON_PIECE: usize = 256 * 1024;

async fn submit_csv(
    context: &mut Context<'_>,
    args: &SubmitArgs,
) -> Result<reqwest::Response, CliError> {
    let (file, size) = open(&args.file).await?;
    let file = file.into_std().await;
    let counts = Arc::new(Counts::default());
    let lines = Arc::new(LineMap::default());
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let converter = {
        let counts = Arc::clone(&counts);
        let lines = Arc::clone(&lines);
        let columns = CsvColumns {
            id: args.id_column.clone(),
            filename: args.filename_column.clone(),
            delimiter: args.delimiter.byte(),
        };
        let path = args.file.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = csv_to_ndjson(&path, file, &columns, &counts, &lines, &sender) {
                counts.fail(error);
                // The body ends in an error, so the API stores nothing.
                let _ = sender.blocking_send(Err(std::io::Error::other("the CSV cannot be read")));
            }
        })
    };
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ));
    let url = context.api.url("/v1/jobs", &[("name", &args.name)])?;
    let request = context
        .api
        .request(Method::POST, url)
        .header(CONTENT_TYPE, "application/x-ndjson")
        .body(body);
    let mut bar = context
        .progress
        .transfer(&file_label(&args.file), Some(size));
    let response = send_counted(&context.api, request, &counts, size, 0, &mut bar).await;
    // The converter stops once its receiver is gone; its own failure is already in `counts`.
    let _ = converter.await;
    match response {
        Ok(response) => {
            bar.finish(&format!("{} documents sent", group(counts.records())));
            Ok(response)
        }
        Err(error) => {
            bar.abandon();
            Err(lines.relabel(&args.file, error))
        }
    }
}

struct CsvColumns {
    id: String,
    filename: Option<String>,
    delimiter: u8,
}

/// Where each NDJSON line came from in the CSV: `(ndjson_line, csv_line)` wherever the distance
/// between the two changes (a quoted field holding newlines), so it stays small.
#[derive(Debug, Default)]
struct LineMap {
    shifts: std::sync::Mutex<Vec<(u64, u64)>>,
}

impl LineMap {
    fn record(&self, ndjson_line: u64, csv_line: u64) {
        let mut shifts = self
            .shifts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let same_shift = shifts
            .last()
            .is_some_and(|(n, c)| c.checked_sub(*n) == csv_line.checked_sub(ndjson_line));
        if !same_shift {
            shifts.push((ndjson_line, csv_line));
        }
    }

    fn csv_line(&self, ndjson_line: u64) -> Option<u64> {
        let shifts = self
            .shifts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = shifts.partition_point(|(n, _)| *n <= ndjson_line);
        let (n, c) = shifts.get(index.checked_sub(1)?)?;
        Some(c + (ndjson_line - n))
    }

    /// The API names an NDJSON line; the user knows the CSV's.
    fn relabel(&self, path: &Path, error: CliError) -> CliError {
        match error {
            CliError::Api { status, mut body } => {
                if let Some(line) = body.details.line {
                    if let Some(csv_line) = self.csv_line(line) {
                        let prefix = format!("line {line}: ");
                        let message = body
                            .message
                            .strip_prefix(&prefix)
                            .unwrap_or(&body.message)
                            .to_owned();
                        body.message = format!("{}, line {csv_line}: {message}", path.display());
                        body.details.line = Some(csv_line);
                    }
                }
                CliError::Api { status, body }
            }
            other => other,
        }
    }
}

/// One CSV row as an NDJSON document.
struct RowDocument<'a> {
    header: &'a csv::StringRecord,
    record: &'a csv::StringRecord,
    id: usize,
    filename: Option<usize>,
}

impl Serialize for RowDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("document_id", self.record.get(self.id).unwrap_or(""))?;
        if let Some(filename) = self.filename {
            let name = self.record.get(filename).filter(|n| !n.is_empty());
            map.serialize_entry("filename", &name)?;
        }
        map.serialize_entry("values", &RowValues(self))?;
        map.end()
    }
}

struct RowValues<'a, 'b>(&'a RowDocument<'b>);

impl Serialize for RowValues<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0;
        let mut map = serializer.serialize_map(None)?;
        for (index, column) in row.header.iter().enumerate() {
            if index == row.id || Some(index) == row.filename {
                continue;
            }
            let value = row.record.get(index).filter(|v| !v.is_empty());
            map.serialize_entry(column, &value)?;
        }
        map.end()
    }
}

fn csv_to_ndjson(
    path: &Path,
    file: std::fs::File,
    columns: &CsvColumns,
    counts: &Counts,
    lines: &LineMap,
    sender: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), CliError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(columns.delimiter)
        .flexible(false)
        .from_reader(std::io::BufReader::new(file));
    let csv_error = |error: csv::Error| {
        let line = error.position().map(csv::Position::line);
        CliError::input(path, line, error.to_string())
    };
    let header = reader.headers().map_err(csv_error)?.clone();
    let find = |name: &str, option: &str| {
        header.iter().position(|c| c == name).ok_or_else(|| {
            CliError::input(
                path,
                Some(1),
                format!(
                    "no column `{name}` ({option}); the header has {}",
                    header.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    };
    let id = find(&columns.id, "--id-column")?;
    let filename = columns
        .filename
        .as_deref()
        .map(|name| find(name, "--filename-column"))
        .transpose()?;
    let mut record = csv::StringRecord::new();
    let mut piece = Vec::with_capacity(NDJSON_PIECE + 4096);
    let mut documents = 0u64;
    while reader.read_record(&mut record).map_err(csv_error)? {
        documents += 1;
        let csv_line = record.position().map_or(documents + 1, csv::Position::line);
        lines.record(documents, csv_line);
        serde_json::to_writer(
            &mut piece,
            &RowDocument {
                header: &header,
                record: &record,
                id,
                filename,
            },
        )
        .map_err(|e| CliError::input(path, Some(csv_line), e.to_string()))?;
        piece.push(b'\n');
        if piece.len() >= NDJSON_PIECE {
            counts.set(reader.position().byte(), documents);
            let full = std::mem::replace(&mut piece, Vec::with_capacity(NDJSON_PIECE + 4096));
            if sender.blocking_send(Ok(Bytes::from(full))).is_err() {
                // The request ended (the API answered early): nothing more to send.
                return Ok(());
            }
        }
    }
    counts.set(reader.position().byte(), documents);
    if !piece.is_empty() {
        let _ = sender.blocking_send(Ok(Bytes::from(piece)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_map_back_to_csv_lines() {
        let map = LineMap::default();
        map.record(1, 2);
        map.record(2, 3);
        map.record(3, 4);
        // document 3 spans lines 4 and 5
        map.record(4, 6);
        map.record(5, 7);
        assert_eq!(map.csv_line(1), Some(2));
        assert_eq!(map.csv_line(3), Some(4));
        assert_eq!(map.csv_line(5), Some(7));
        assert_eq!(map.csv_line(0), None);
    }

    #[test]
    fn a_csv_row_becomes_a_document_with_nulls_for_empty_cells() {
        let header = csv::StringRecord::from(vec!["vendor", "document_id", "file", "amount"]);
        let record = csv::StringRecord::from(vec!["Acme \"GmbH\"", "d1", "d1.pdf", ""]);
        let json = serde_json::to_string(&RowDocument {
            header: &header,
            record: &record,
            id: 1,
            filename: Some(2),
        })
        .expect("in a test");
        assert_eq!(
            json,
            r#"{"document_id":"d1","filename":"d1.pdf","values":{"vendor":"Acme \"GmbH\"","amount":null}}"#
        );
    }

    #[test]
    fn a_json_file_names_the_bad_document() {
        let bytes = br#"{"documents": [
            {"document_id": "a", "values": {"x": "1"}},
            {"document_id": "b", "values": {"x": 2}}
        ]}"#;
        let error = parse_json_documents(Path::new("jobs.json"), bytes).expect_err("an error");
        let text = error.to_string();
        assert!(text.contains("documents[1].values.x"), "{text}");
        assert!(text.contains("line 3"), "{text}");
        let documents = parse_json_documents(
            Path::new("jobs.json"),
            br#"[{"document_id": "a", "values": {}}]"#,
        )
        .expect("in a test");
        assert_eq!(documents.len(), 1);
    }
}
