//! A `multipart/form-data` upload as the uploads read it: one `file` part streamed as it arrives,
//! a few named text parts (bounded, UTF-8, no NUL), everything else ignored. Every upload that
//! takes a form (reference data, lookup tables) goes through [`Form`]; what its parts mean — and
//! in which order they must come — stays with the upload.

use std::collections::VecDeque;

use actix_web::web;
use bytes::Bytes;
use futures_util::StreamExt;

use super::multipart::{self, Event, MultipartReader};
use crate::error::ApiError;

/// What a form yields, in body order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormEvent {
    /// The `file` part starts (a second one is refused: 422 naming `file`).
    File,
    /// A piece of the file.
    FileData(Bytes),
    /// A complete text part among those asked for.
    Text { field: String, value: String },
}

enum Part {
    File,
    Text(String, Vec<u8>),
    Ignored,
}

/// Reads a form from a request body (see the module).
pub struct Form {
    payload: web::Payload,
    reader: MultipartReader,
    text_fields: &'static [&'static str],
    max_text_bytes: usize,
    limit: Option<usize>,
    part: Option<Part>,
    file_seen: bool,
    pending: VecDeque<FormEvent>,
    read: usize,
    done: bool,
}

impl Form {
    /// A form of the body with this `Content-Type`, whose text parts `text_fields` are read (each
    /// at most `max_text_bytes`; the body at most `limit` bytes in all, when given: 413 beyond).
    /// 422 naming `Content-Type` without a boundary.
    pub fn new(
        content_type: &str,
        payload: web::Payload,
        text_fields: &'static [&'static str],
        max_text_bytes: usize,
        limit: Option<usize>,
    ) -> Result<Form, ApiError> {
        let boundary = multipart::boundary(content_type).ok_or_else(|| {
            ApiError::validation(
                "Content-Type",
                "a multipart/form-data body needs a `boundary` parameter",
            )
        })?;
        let reader = MultipartReader::new(&boundary).map_err(bad_body)?;
        Ok(Form {
            payload,
            reader,
            text_fields,
            max_text_bytes,
            limit,
            part: None,
            file_seen: false,
            pending: VecDeque::new(),
            read: 0,
            done: false,
        })
    }

    /// The next event; `None` once the form has ended. An empty body is a 422 naming `body`.
    pub async fn next(&mut self) -> Result<Option<FormEvent>, ApiError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if self.done {
                return Ok(None);
            }
            let chunk = self.payload.next().await;
            let at_end = chunk.is_none();
            if let Some(chunk) = chunk {
                let chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
                self.read += chunk.len();
                if let Some(limit) = self.limit.filter(|limit| self.read > *limit) {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                self.reader.push(&chunk);
            }
            if at_end && self.read == 0 {
                return Err(ApiError::validation("body", "the request body is empty"));
            }
            while let Some(event) = self.reader.next_event(at_end).map_err(bad_body)? {
                self.take(event)?;
            }
            if at_end {
                self.done = true;
            }
        }
    }

    fn take(&mut self, event: Event) -> Result<(), ApiError> {
        match event {
            Event::PartStart { name, .. } => {
                self.part = Some(if name == "file" {
                    if self.file_seen {
                        return Err(ApiError::validation(
                            "file",
                            "send one `file` part per upload",
                        ));
                    }
                    self.file_seen = true;
                    self.pending.push_back(FormEvent::File);
                    Part::File
                } else if self.text_fields.contains(&name.as_str()) {
                    Part::Text(name, Vec::new())
                } else {
                    Part::Ignored
                });
            }
            Event::Data(bytes) => match &mut self.part {
                Some(Part::File) => self.pending.push_back(FormEvent::FileData(bytes)),
                Some(Part::Text(field, value)) => {
                    if value.len() + bytes.len() > self.max_text_bytes {
                        let max = self.max_text_bytes;
                        return Err(ApiError::validation(
                            field.as_str(),
                            format!("`{field}` must be at most {max} bytes"),
                        ));
                    }
                    value.extend_from_slice(&bytes);
                }
                Some(Part::Ignored) | None => {}
            },
            Event::PartEnd => {
                if let Some(Part::Text(field, value)) = self.part.take() {
                    let value = String::from_utf8(value).map_err(|_| {
                        ApiError::validation(
                            field.as_str(),
                            format!("`{field}` must be UTF-8 text"),
                        )
                    })?;
                    crate::extract::reject_nul(&field, None, &value)?;
                    self.pending.push_back(FormEvent::Text { field, value });
                }
            }
            Event::End => self.done = true,
        }
        Ok(())
    }
}

fn bad_body(message: String) -> ApiError {
    ApiError::validation("body", message)
}

/// The error for a form without its `file` part.
pub fn no_file() -> ApiError {
    ApiError::validation(
        "file",
        "a multipart upload needs a `file` part holding the CSV",
    )
}
