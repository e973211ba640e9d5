//! `concord reference-data upload FILE.csv --name N`: the CSV streamed to
//! `POST /v1/reference-data` as `text/csv`, with a bar in bytes and rows. A bad line is the API's
//! 422, which names it; nothing is stored then.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::api::Api;
use crate::error::CliError;
use crate::progress::{group, RecordCounter};
use crate::stream::{file_body, open, send_counted};
use crate::{Context, Outcome};

#[derive(Debug, Subcommand)]
pub enum ReferenceDataCommand {
    /// Uploads a CSV file as a new reference dataset (streamed: any size, flat memory).
    Upload(UploadArgs),
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The CSV file: a header line, then one row per line.
    pub file: PathBuf,
    /// The dataset's name.
    #[arg(long)]
    pub name: String,
    /// The column whose values are the row ids (generated ids `row-1`, … without it).
    #[arg(long)]
    pub id_column: Option<String>,
    /// The field separator (detected when left out).
    #[arg(long, value_enum)]
    pub delimiter: Option<Delimiter>,
    /// The file's encoding (detected when left out).
    #[arg(long, value_enum)]
    pub encoding: Option<Encoding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Delimiter {
    Comma,
    Semicolon,
    Tab,
}

impl Delimiter {
    pub fn api_name(self) -> &'static str {
        match self {
            Delimiter::Comma => "comma",
            Delimiter::Semicolon => "semicolon",
            Delimiter::Tab => "tab",
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Encoding {
    #[value(name = "utf-8")]
    Utf8,
    #[value(name = "latin-1")]
    Latin1,
    #[value(name = "windows-1252")]
    Windows1252,
}

impl Encoding {
    fn api_name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Latin1 => "latin-1",
            Encoding::Windows1252 => "windows-1252",
        }
    }
}

/// The parts of a dataset the CLI shows.
#[derive(Debug, Deserialize)]
pub struct Dataset {
    pub id: String,
    pub name: String,
    pub id_column: Option<String>,
    pub row_count: u64,
    pub columns: Vec<IgnoredAny>,
}

pub async fn run(
    context: &mut Context<'_>,
    command: ReferenceDataCommand,
) -> Result<Outcome, CliError> {
    match command {
        ReferenceDataCommand::Upload(args) => upload(context, args).await,
    }
}

async fn upload(context: &mut Context<'_>, args: UploadArgs) -> Result<Outcome, CliError> {
    let (file, size) = open(&args.file).await?;
    let mut query = vec![("name", args.name.as_str())];
    if let Some(column) = &args.id_column {
        query.push(("id_column", column));
    }
    if let Some(delimiter) = args.delimiter {
        query.push(("delimiter", delimiter.api_name()));
    }
    if let Some(encoding) = args.encoding {
        query.push(("encoding", encoding.api_name()));
    }
    let url = context.api.url("/v1/reference-data", &query)?;
    let (body, counts) = file_body(&args.file, file, RecordCounter::csv());
    let request = context
        .api
        .request(Method::POST, url)
        .header(CONTENT_TYPE, "text/csv")
        .body(body);
    let label = file_label(&args.file);
    let mut bar = context.progress.transfer(&label, Some(size));
    let response = match send_counted(&context.api, request, &counts, size, 1, &mut bar).await {
        Ok(response) => response,
        Err(error) => {
            bar.abandon();
            return Err(error);
        }
    };
    let answer = Api::read::<Dataset>(response).await?;
    let dataset = answer.value;
    bar.finish(&format!("{} rows stored", group(dataset.row_count)));
    let id_column = dataset
        .id_column
        .as_deref()
        .map(|c| format!(", ids from `{c}`"))
        .unwrap_or_default();
    Ok(Outcome {
        text: format!(
            "reference dataset {} \"{}\": {} rows, {} columns{id_column}\n",
            dataset.id,
            dataset.name,
            group(dataset.row_count),
            dataset.columns.len(),
        ),
        document: answer.document,
    })
}

/// A file's name for a bar's prefix.
pub fn file_label(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
