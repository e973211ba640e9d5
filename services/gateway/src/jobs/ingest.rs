//! Storing a batch: a [`JobWriter`] owns one transaction (in a task of its own) and receives the
//! validated documents in batches, so that a streamed upload of any size goes to the database
//! with bounded memory and either commits whole, with its `job.completed` event, or not at all.

use std::collections::HashSet;

use actix_web::web;
use bytes::{Buf, BytesMut};
use concord_messages::{EventSubjectKind, EventType, JobSubmission, SubmittedDocument};
use concord_models::database::connection;
use concord_models::documents::Document;
use concord_models::ids::{JobRunId, OrganizationId};
use concord_models::job_runs::{JobRun, JobRunStatus, JobSource, NewJobRun};
use concord_models::outbox::OutboxMessage;
use concord_models::StoreError;
use diesel_async::AsyncConnection;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::domain::{ValidDocument, MAX_JSON_DOCUMENTS};
use super::view::JobRunView;
use crate::error::{ApiError, ErrorCode};
use crate::extract::parse_json;
use crate::names::Name;
use crate::state::AppState;

/// Documents sent to the database per multi-row insert.
const BATCH_SIZE: usize = 1000;

/// The job run to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub organization_id: OrganizationId,
    pub name: Name,
    pub source: JobSource,
    /// For intake messages: their message id, so that a redelivery creates nothing new.
    pub intake_message_id: Option<String>,
}

enum Command {
    Insert(Vec<Document>),
    Commit,
}

pub struct JobWriter {
    job_run_id: JobRunId,
    sender: mpsc::Sender<Command>,
    task: JoinHandle<Result<JobRun, WriteError>>,
    buffer: Vec<Document>,
    next_position: i32,
    /// 128-bit digests of the document ids seen, to reject duplicates without keeping the ids.
    seen: HashSet<u128>,
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("the upload was abandoned")]
    Abandoned,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for WriteError {
    fn from(error: diesel::result::Error) -> Self {
        WriteError::Store(StoreError::Query(error))
    }
}

impl JobWriter {
    pub fn start(state: &AppState, job: NewJob) -> JobWriter {
        let job_run_id = JobRunId::generate();
        let (sender, receiver) = mpsc::channel(2);
        let pool = state.pool.clone();
        let correlation_id = job.intake_message_id.clone();
        // The writer runs in the request's span, so the event it writes continues the caller's
        // trace.
        let task = tokio::spawn(tracing::Instrument::in_current_span(async move {
            let mut conn = connection(&pool).await?;
            let mut receiver = receiver;
            conn.transaction::<_, WriteError, _>(async move |conn| {
                JobRun::insert(
                    conn,
                    NewJobRun {
                        id: job_run_id,
                        organization_id: job.organization_id,
                        name: job.name.as_str(),
                        status: JobRunStatus::Processing,
                        source: job.source,
                        intake_message_id: job.intake_message_id.as_deref(),
                    },
                )
                .await?;
                let mut count = 0usize;
                loop {
                    match receiver.recv().await {
                        Some(Command::Insert(documents)) => {
                            Document::insert_all(conn, &documents).await?;
                            count += documents.len();
                        }
                        Some(Command::Commit) => break,
                        None => return Err(WriteError::Abandoned),
                    }
                }
                let count = i32::try_from(count).map_err(StoreError::from)?;
                let run = JobRun::complete(conn, job_run_id, count).await?;
                let view = serde_json::to_value(JobRunView::from(run.clone()))
                    .map_err(StoreError::from)?;
                OutboxMessage::enqueue(
                    conn,
                    concord_service::outbox::event(
                        EventType::JobCompleted,
                        Some(run.organization_id),
                        EventSubjectKind::JobRun,
                        Some(run.id.to_string()),
                        correlation_id,
                        view,
                    )?,
                )
                .await?;
                Ok(run)
            })
            .await
        }));
        JobWriter {
            job_run_id,
            sender,
            task,
            buffer: Vec::with_capacity(BATCH_SIZE),
            next_position: 0,
            seen: HashSet::new(),
        }
    }

    /// Adds a document; `field` names it in a duplicate error, `line` is its NDJSON line.
    pub async fn push(
        &mut self,
        document: ValidDocument,
        field: &str,
        line: Option<u64>,
    ) -> Result<(), ApiError> {
        let digest = Sha256::digest(document.document_id.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        if !self.seen.insert(u128::from_be_bytes(first)) {
            return Err(ApiError::Validation {
                field: Some(field.to_owned()),
                line,
                message: format!(
                    "{}duplicate document_id `{}`: ids must be unique in a batch",
                    line.map(|n| format!("line {n}: ")).unwrap_or_default(),
                    document.document_id
                ),
            });
        }
        let values = serde_json::to_value(&document.values).map_err(ApiError::internal)?;
        self.buffer.push(Document {
            job_run_id: self.job_run_id,
            position: self.next_position,
            document_id: document.document_id,
            filename: document.filename,
            field_values: values,
        });
        self.next_position += 1;
        if self.buffer.len() >= BATCH_SIZE {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        let batch = std::mem::replace(&mut self.buffer, Vec::with_capacity(BATCH_SIZE));
        if self.sender.send(Command::Insert(batch)).await.is_err() {
            // The writer stopped: its result says why.
            return Err(self.failure().await);
        }
        Ok(())
    }

    async fn failure(&mut self) -> ApiError {
        match (&mut self.task).await {
            Ok(Err(WriteError::Store(error))) if error.is_unique_violation() => {
                ApiError::Conflict {
                    code: ErrorCode::AlreadySubmitted,
                    message: "this batch was already stored".to_owned(),
                }
            }
            Ok(Err(error)) => ApiError::internal(error),
            Ok(Ok(_)) => ApiError::Internal("the writer committed before the upload ended".into()),
            Err(error) => ApiError::internal(error),
        }
    }

    /// Sends what is buffered and commits the job run with its event.
    pub async fn commit(mut self, state: &AppState) -> Result<JobRun, ApiError> {
        if !self.buffer.is_empty() {
            self.flush().await?;
        }
        if self.sender.send(Command::Commit).await.is_err() {
            return Err(self.failure().await);
        }
        match (&mut self.task).await {
            Ok(Ok(run)) => {
                state.outbox_waker.notify_one();
                Ok(run)
            }
            Ok(Err(WriteError::Store(error))) if error.is_unique_violation() => {
                Err(ApiError::Conflict {
                    code: ErrorCode::AlreadySubmitted,
                    message: "this batch was already stored".to_owned(),
                })
            }
            Ok(Err(error)) => Err(ApiError::internal(error)),
            Err(error) => Err(ApiError::internal(error)),
        }
    }
}

/// Stores a parsed JSON submission (REST body or intake message).
pub async fn store_submission(
    state: &AppState,
    organization_id: OrganizationId,
    submission: JobSubmission,
    source: JobSource,
    intake_message_id: Option<String>,
) -> Result<JobRun, ApiError> {
    let name = Name::parse("name", &submission.name)?;
    if submission.documents.len() > MAX_JSON_DOCUMENTS {
        return Err(ApiError::validation(
            "documents",
            format!(
                "at most {MAX_JSON_DOCUMENTS} documents in one JSON body ({} given); stream larger batches as application/x-ndjson",
                submission.documents.len()
            ),
        ));
    }
    // Validate everything before writing anything.
    let mut documents = Vec::with_capacity(submission.documents.len());
    for (index, raw) in submission.documents.into_iter().enumerate() {
        documents.push(ValidDocument::parse(&format!("documents[{index}]"), raw)?);
    }
    let mut writer = JobWriter::start(
        state,
        NewJob {
            organization_id,
            name,
            source,
            intake_message_id,
        },
    );
    for (index, document) in documents.into_iter().enumerate() {
        writer
            .push(document, &format!("documents[{index}].document_id"), None)
            .await?;
    }
    writer.commit(state).await
}

/// Streams an NDJSON body (one [`SubmittedDocument`] per line) into a new job run. A bad line
/// stops the upload with a 422 naming it, and nothing is stored.
pub async fn store_ndjson(
    state: &AppState,
    organization_id: OrganizationId,
    name: Name,
    mut payload: web::Payload,
) -> Result<JobRun, ApiError> {
    let mut writer = JobWriter::start(
        state,
        NewJob {
            organization_id,
            name,
            source: JobSource::Rest,
            intake_message_id: None,
        },
    );
    let max_line = state.limits.max_ndjson_line_bytes;
    let mut buffer = BytesMut::new();
    let mut line_number = 0u64;
    let mut documents = 0u64;
    loop {
        let chunk = payload.next().await;
        let at_end = chunk.is_none();
        if let Some(chunk) = chunk {
            let chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
            buffer.extend_from_slice(&chunk);
        }
        while let Some(newline) = buffer.iter().position(|b| *b == b'\n') {
            let line = buffer.split_to(newline + 1);
            line_number += 1;
            if let Some(document) = parse_line(&line[..newline], line_number)? {
                writer
                    .push(document, "document_id", Some(line_number))
                    .await?;
                documents += 1;
            }
        }
        if buffer.len() > max_line {
            return Err(ApiError::Validation {
                field: None,
                line: Some(line_number + 1),
                message: format!("line {}: longer than {max_line} bytes", line_number + 1),
            });
        }
        if at_end {
            if buffer.has_remaining() {
                line_number += 1;
                let rest = buffer.split();
                if let Some(document) = parse_line(&rest, line_number)? {
                    writer
                        .push(document, "document_id", Some(line_number))
                        .await?;
                    documents += 1;
                }
            }
            break;
        }
    }
    tracing::debug!(documents, lines = line_number, "NDJSON upload read");
    writer.commit(state).await
}

/// One NDJSON line: `None` for a blank line.
fn parse_line(line: &[u8], line_number: u64) -> Result<Option<ValidDocument>, ApiError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let at_line = |error: ApiError| {
        let (field, message) = match error {
            ApiError::Validation { field, message, .. } => (field, message),
            other => (None, other.to_string()),
        };
        ApiError::Validation {
            field,
            line: Some(line_number),
            message: format!("line {line_number}: {message}"),
        }
    };
    let raw: SubmittedDocument = parse_json(line).map_err(at_line)?;
    ValidDocument::parse("", raw).map(Some).map_err(at_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_a_document_or_blank() {
        let doc = parse_line(br#"{"document_id":"a","values":{"x":"1"}}"#, 1)
            .expect("valid")
            .expect("a document");
        assert_eq!(doc.document_id, "a");
        assert!(parse_line(b"   \r", 2).expect("blank is fine").is_none());
    }

    #[test]
    fn bad_lines_name_their_number() {
        for line in [
            &b"{not json"[..],
            br#"{"values":{}}"#,
            br#"{"document_id":"","values":{}}"#,
        ] {
            match parse_line(line, 7) {
                Err(ApiError::Validation {
                    line: Some(7),
                    message,
                    ..
                }) => {
                    assert!(message.starts_with("line 7:"), "{message}")
                }
                other => panic!("expected a line error, got {other:?}"),
            }
        }
    }
}
