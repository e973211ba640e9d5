//! What can go wrong, and the exit code each failure ends the process with. The codes are part of
//! the interface (scripts test them) and are listed in the README's "Command line" section.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Ok,
    /// 1: the API refused the request (its error code and message are printed).
    Refused,
    /// 2: bad arguments, no URL or key, or an input file that cannot be read or parsed.
    Usage,
    /// 3: the server could not be reached, or what answered is not the Concord API.
    Unreachable,
    /// 4: the run ended `failed` or `cancelled`.
    RunFailed,
    /// 5: the key is missing, unknown or revoked (401), or lacks the scope (403).
    Unauthorized,
    /// 6: a local file could not be written (an export).
    LocalIo,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Refused => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
            Exit::RunFailed => 4,
            Exit::Unauthorized => 5,
            Exit::LocalIo => 6,
        }
    }
}

/// The API's error envelope: `{"error": {"code", "message", "details", "request_id"}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ErrorEnvelope {
    pub error: ApiErrorBody,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ApiErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub details: ErrorDetails,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The parts of `details` the CLI shows; every one is optional (each code carries its own).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ErrorDetails {
    /// The JSON path or parameter at fault (`documents[2].values.total`, `id_column`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The line of a CSV or NDJSON upload, or of malformed JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// Every problem of a validation that found several (a policy's rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<Problem>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Input {
        path: PathBuf,
        line: Option<u64>,
        message: String,
    },
    #[error("{} ({status}): {}", .body.code, .body.message)]
    Api {
        status: u16,
        body: Box<ApiErrorBody>,
    },
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered {status}, which is not the Concord API: {reason}")]
    NotTheApi {
        url: String,
        status: u16,
        reason: String,
    },
    #[error("{kind} {id} ended {status}{}", .error.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    RunEnded {
        kind: &'static str,
        id: String,
        status: String,
        error: Option<String>,
    },
    #[error("{context}: {source}")]
    LocalIo {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    pub fn input(path: impl Into<PathBuf>, line: Option<u64>, message: impl Into<String>) -> Self {
        CliError::Input {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            CliError::Usage(_) | CliError::Input { .. } => Exit::Usage,
            CliError::Api {
                status: 401 | 403, ..
            } => Exit::Unauthorized,
            CliError::Api { .. } => Exit::Refused,
            CliError::Unreachable { .. } | CliError::NotTheApi { .. } => Exit::Unreachable,
            CliError::RunEnded { .. } => Exit::RunFailed,
            CliError::LocalIo { .. } => Exit::LocalIo,
        }
    }

    /// The short code a script reads from `--output json`: the API's own for a refusal.
    pub fn code(&self) -> &str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::Input { .. } => "input",
            CliError::Api { body, .. } => &body.code,
            CliError::Unreachable { .. } => "unreachable",
            CliError::NotTheApi { .. } => "not_the_api",
            CliError::RunEnded { .. } => "run_ended",
            CliError::LocalIo { .. } => "local_io",
        }
    }

    /// Lines under the message that name what is at fault.
    pub fn detail_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match self {
            CliError::Api { body, .. } => {
                let details = &body.details;
                if let Some(field) = &details.field {
                    lines.push(format!("field: {field}"));
                }
                if let Some(line) = details.line {
                    match details.column {
                        Some(column) => lines.push(format!("line: {line}, column {column}")),
                        None => lines.push(format!("line: {line}")),
                    }
                }
                if let Some(scope) = &details.required_scope {
                    lines.push(format!("required scope: {scope}"));
                }
                if let Some(limit) = details.limit_bytes {
                    lines.push(format!("limit: {limit} bytes"));
                }
                if let Some(retry) = details.retry_after_seconds {
                    lines.push(format!("retry after: {retry} s"));
                }
                for problem in details.errors.iter().flatten() {
                    lines.push(format!("  {}: {}", problem.field, problem.message));
                }
                if let Some(request_id) = &body.request_id {
                    lines.push(format!("request id: {request_id}"));
                }
            }
            CliError::LocalIo { source, .. } => {
                let mut cause = std::error::Error::source(source);
                while let Some(error) = cause {
                    lines.push(format!("caused by: {error}"));
                    cause = error.source();
                }
            }
            _ => {}
        }
        lines
    }

    /// The one JSON document `--output json` prints for a failure.
    pub fn document(&self) -> FailureDocument<'_> {
        let (status, message, details, request_id) = match self {
            CliError::Api { status, body } => (
                Some(*status),
                body.message.clone(),
                Some(FailureDetails::Api(&body.details)),
                body.request_id.as_deref(),
            ),
            CliError::Input {
                path,
                line,
                message,
            } => (
                None,
                message.clone(),
                Some(FailureDetails::Input { path, line: *line }),
                None,
            ),
            CliError::RunEnded { status, .. } => (
                None,
                self.to_string(),
                Some(FailureDetails::Run { status }),
                None,
            ),
            _ => (None, self.to_string(), None, None),
        };
        FailureDocument {
            error: Failure {
                code: self.code(),
                message,
                exit_code: self.exit().code(),
                status,
                details,
                request_id,
            },
        }
    }
}

/// `{"error": {"code", "message", "exit_code", "status"?, "details"?, "request_id"?}}`: the API's
/// envelope, with the exit code, for a script that reads stdout.
#[derive(Debug, Serialize)]
pub struct FailureDocument<'a> {
    pub error: Failure<'a>,
}

#[derive(Debug, Serialize)]
pub struct Failure<'a> {
    pub code: &'a str,
    pub message: String,
    pub exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<FailureDetails<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FailureDetails<'a> {
    Api(&'a ErrorDetails),
    Input {
        path: &'a PathBuf,
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<u64>,
    },
    Run {
        status: &'a str,
    },
}
