//! The codecs every upload and export goes through, in one place:
//!
//! * [`csv_reader`] — CSV input as users have it: `,`, `;` or tab delimited, UTF-8 (with or
//!   without a byte order mark) or Latin-1 / Windows-1252, each given by a query parameter or
//!   detected; fed chunk by chunk as the body arrives.
//! * [`csv_parser`] — the strict incremental RFC 4180 parser under it (errors name the line).
//! * [`csv_writer`] — CSV output for the exports.
//! * [`multipart`] — `multipart/form-data` bodies, streamed; [`form`] — a form upload's file
//!   part and text parts, read the same way by every upload.

pub mod csv_parser;
pub mod csv_reader;
pub mod csv_writer;
pub mod form;
pub mod multipart;

use crate::error::ApiError;

impl From<csv_parser::CsvError> for ApiError {
    /// A CSV that cannot be read: 422 naming the line.
    fn from(error: csv_parser::CsvError) -> Self {
        ApiError::Validation {
            field: None,
            line: Some(error.line),
            message: error.to_string(),
        }
    }
}

impl From<csv_reader::FormatError> for ApiError {
    fn from(error: csv_reader::FormatError) -> Self {
        ApiError::validation(error.field, error.message)
    }
}

/// The CSV format parameters of an upload's query (`delimiter`, `encoding`; each detected when
/// left out). Flattened into each upload's query struct.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CsvFormatParams {
    pub delimiter: Option<String>,
    pub encoding: Option<String>,
}

impl CsvFormatParams {
    /// The format they give: 422 naming `delimiter` or `encoding` when one names nothing we read.
    pub fn format(&self) -> Result<csv_reader::CsvFormat, ApiError> {
        Ok(csv_reader::CsvFormat::from_params(
            self.delimiter.as_deref(),
            self.encoding.as_deref(),
        )?)
    }
}
