//! The gateway's one error type and its one table of codes: every failure answers with the same
//! envelope `{"error": {"code", "message", "details", "request_id"}}`, its code one of
//! [`ErrorCode`] and its HTTP status the code's (README.md, "Errors", lists the table; a test
//! keeps the two the same).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use concord_models::StoreError;
use serde_json::{json, Value};
use thiserror::Error;

use crate::auth::Scope;
use crate::request_context;

/// Every code the API answers with, and its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 401: no key, an unknown or revoked key.
    Unauthorized,
    /// 403: the key lacks the scope (`details.required_scope`).
    InsufficientScope,
    /// 404: no such resource in the key's organisation, or no such route.
    NotFound,
    /// 404: a config's model before it was trained.
    ModelNotTrained,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 400: the body is not JSON (`details.line`, `details.column`).
    MalformedJson,
    /// 400: the body could not be read.
    BadRequest,
    /// 422: well-formed input that breaks a rule (`details.field`, for NDJSON and CSV
    /// `details.line`).
    ValidationFailed,
    /// 409: a job's documents were submitted already.
    AlreadySubmitted,
    /// 409: a resolution value is settled already, or waits for the AI pass.
    AlreadySettled,
    /// 409: a request with this `Idempotency-Key` is still being handled.
    IdempotencyKeyInUse,
    /// 409: the `Idempotency-Key` was used for another request.
    IdempotencyKeyReused,
    /// 409: the job has not completed yet.
    JobNotCompleted,
    /// 409: a lookup table the policy uses was deleted.
    LookupTableMissing,
    /// 409: the name is taken.
    NameTaken,
    /// 409: a built-in resource cannot be changed.
    ReadOnly,
    /// 409: the config's reference data was deleted.
    ReferenceDataDeleted,
    /// 409: a reconciliation token's query field is no longer a field of its config.
    QueryFieldRemoved,
    /// 409: the run has ended already.
    RunEnded,
    /// 409: the run has not completed yet.
    RunNotCompleted,
    /// 409: the config scores `weighted`: it has no model.
    WeightedScoring,
    /// 413: the body is larger than the endpoint reads (`details.limit_bytes`).
    PayloadTooLarge,
    /// 415: a content type the endpoint does not read.
    UnsupportedMediaType,
    /// 429: over the key's rate limit (`Retry-After`).
    RateLimited,
    /// 500: a failure of ours (the `request_id` finds it in the logs).
    InternalError,
    /// 503: the config's reference index is being built on the matching workers (`Retry-After`).
    IndexWarming,
    /// 503: no matching worker answered in time (`Retry-After`).
    MatchingUnavailable,
}

impl ErrorCode {
    /// Every code, in the order of the README's table.
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::Unauthorized,
        ErrorCode::InsufficientScope,
        ErrorCode::NotFound,
        ErrorCode::ModelNotTrained,
        ErrorCode::MethodNotAllowed,
        ErrorCode::MalformedJson,
        ErrorCode::BadRequest,
        ErrorCode::ValidationFailed,
        ErrorCode::AlreadySubmitted,
        ErrorCode::AlreadySettled,
        ErrorCode::IdempotencyKeyInUse,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::JobNotCompleted,
        ErrorCode::LookupTableMissing,
        ErrorCode::NameTaken,
        ErrorCode::ReadOnly,
        ErrorCode::ReferenceDataDeleted,
        ErrorCode::QueryFieldRemoved,
        ErrorCode::RunEnded,
        ErrorCode::RunNotCompleted,
        ErrorCode::WeightedScoring,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
        ErrorCode::InternalError,
        ErrorCode::IndexWarming,
        ErrorCode::MatchingUnavailable,
    ];

    /// The code as the envelope writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ModelNotTrained => "model_not_trained",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::AlreadySubmitted => "already_submitted",
            ErrorCode::AlreadySettled => "already_settled",
            ErrorCode::IdempotencyKeyInUse => "idempotency_key_in_use",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::JobNotCompleted => "job_not_completed",
            ErrorCode::LookupTableMissing => "lookup_table_missing",
            ErrorCode::NameTaken => "name_taken",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::ReferenceDataDeleted => "reference_data_deleted",
            ErrorCode::QueryFieldRemoved => "query_field_removed",
            ErrorCode::RunEnded => "run_ended",
            ErrorCode::RunNotCompleted => "run_not_completed",
            ErrorCode::WeightedScoring => "weighted_scoring",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::IndexWarming => "index_warming",
            ErrorCode::MatchingUnavailable => "matching_unavailable",
        }
    }

    /// What the code means, as the OpenAPI document's table of codes says it.
    pub fn description(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "No key, an unknown or revoked key.",
            ErrorCode::InsufficientScope => "The key lacks the scope (`details.required_scope`).",
            ErrorCode::NotFound => "No such resource in the key's organisation, or no such route.",
            ErrorCode::ModelNotTrained => "A config's model before it was trained.",
            ErrorCode::MethodNotAllowed => "The route exists, the method does not.",
            ErrorCode::MalformedJson => "The body is not JSON (`details.line`, `details.column`).",
            ErrorCode::BadRequest => "The body could not be read.",
            ErrorCode::ValidationFailed => {
                "Well-formed input that breaks a rule (`details.field`; for NDJSON and CSV `details.line`)."
            }
            ErrorCode::AlreadySubmitted => "A job's documents were submitted already.",
            ErrorCode::AlreadySettled => {
                "A resolution value is settled already, or waits for the AI pass."
            }
            ErrorCode::IdempotencyKeyInUse => {
                "A request with this `Idempotency-Key` is still being handled."
            }
            ErrorCode::IdempotencyKeyReused => "The `Idempotency-Key` was used for another request.",
            ErrorCode::JobNotCompleted => "The job run has not completed yet.",
            ErrorCode::LookupTableMissing => "A lookup table the policy uses was deleted.",
            ErrorCode::NameTaken => "The name is taken.",
            ErrorCode::ReadOnly => "A built-in resource cannot be changed.",
            ErrorCode::ReferenceDataDeleted => "The config's reference data was deleted.",
            ErrorCode::QueryFieldRemoved => {
                "A reconciliation token's query field is no longer a field of its config: issue a new token."
            }
            ErrorCode::RunEnded => "The run has ended already.",
            ErrorCode::RunNotCompleted => "The run has not completed yet.",
            ErrorCode::WeightedScoring => "The config scores `weighted`: it has no model.",
            ErrorCode::PayloadTooLarge => {
                "The body is larger than the endpoint reads (`details.limit_bytes`)."
            }
            ErrorCode::UnsupportedMediaType => "A content type the endpoint does not read.",
            ErrorCode::RateLimited => "Over the key's rate limit (`Retry-After`).",
            ErrorCode::InternalError => "A failure of ours (the `request_id` finds it in the logs).",
            ErrorCode::IndexWarming => {
                "The config's reference index is being built on the matching workers; ask again after `Retry-After`."
            }
            ErrorCode::MatchingUnavailable => {
                "No matching worker answered in time; ask again after `Retry-After`."
            }
        }
    }

    /// The code's HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            ErrorCode::NotFound | ErrorCode::ModelNotTrained => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MalformedJson | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::AlreadySubmitted
            | ErrorCode::AlreadySettled
            | ErrorCode::IdempotencyKeyInUse
            | ErrorCode::IdempotencyKeyReused
            | ErrorCode::JobNotCompleted
            | ErrorCode::LookupTableMissing
            | ErrorCode::NameTaken
            | ErrorCode::ReadOnly
            | ErrorCode::ReferenceDataDeleted
            | ErrorCode::QueryFieldRemoved
            | ErrorCode::RunEnded
            | ErrorCode::RunNotCompleted
            | ErrorCode::WeightedScoring => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::IndexWarming | ErrorCode::MatchingUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("this API key lacks the `{0}` scope")]
    InsufficientScope(Scope),
    #[error("{resource} `{id}` was not found")]
    NotFound { resource: &'static str, id: String },
    #[error("no route for {method} {path}")]
    NoRoute { method: String, path: String },
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// A resource that exists only after something else happened (a model before training).
    #[error("{message}")]
    NotYet { code: ErrorCode, message: String },
    #[error("{message}")]
    MalformedJson {
        message: String,
        line: Option<usize>,
        column: Option<usize>,
    },
    /// Well-formed input that breaks a rule: names the field (a JSON path such as
    /// `documents[3].document_id`, or a query parameter or header) and, for NDJSON, the line.
    #[error("{message}")]
    Validation {
        field: Option<String>,
        line: Option<u64>,
        message: String,
    },
    /// Several problems with one body (a data policy, a dialect): each names its field; the
    /// message is the first one's.
    #[error("{}", summarize(.0))]
    ValidationList(Vec<Problem>),
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    #[error("the request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported content type `{given}`: send {accepted}")]
    UnsupportedMediaType {
        given: String,
        /// What the endpoint accepts, in words.
        accepted: &'static str,
    },
    #[error("rate limit exceeded: retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Something the request needs is not ready or not reachable now; worth asking again.
    #[error("{message}")]
    Unavailable {
        code: ErrorCode,
        message: String,
        retry_after_secs: u64,
    },
    #[error("reading the request body failed: {0}")]
    BodyRead(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// One problem of a [`ApiError::ValidationList`]: the field (a JSON path) and what is wrong.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

fn summarize(problems: &[Problem]) -> String {
    match problems {
        [] => "the request is invalid".to_owned(),
        [one] => format!("{}: {}", one.field, one.message),
        [first, rest @ ..] => format!(
            "{}: {} (and {} more problem{})",
            first.field,
            first.message,
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation {
            field: Some(field.into()),
            line: None,
            message: message.into(),
        }
    }

    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        ApiError::NotFound {
            resource,
            id: id.into(),
        }
    }

    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(error))
    }

    /// An internal error described in words (a stored value that does not read back, say).
    pub fn internal_message(message: String) -> Self {
        ApiError::Internal(message.into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::InsufficientScope(_) => ErrorCode::InsufficientScope,
            ApiError::NotFound { .. } | ApiError::NoRoute { .. } => ErrorCode::NotFound,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::NotYet { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unavailable { code, .. } => *code,
            ApiError::MalformedJson { .. } => ErrorCode::MalformedJson,
            ApiError::Validation { .. } | ApiError::ValidationList(_) => {
                ErrorCode::ValidationFailed
            }
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType { .. } => ErrorCode::UnsupportedMediaType,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::BodyRead(_) => ErrorCode::BadRequest,
            ApiError::Internal(_) => ErrorCode::InternalError,
        }
    }

    fn details(&self) -> Value {
        match self {
            ApiError::InsufficientScope(scope) => json!({ "required_scope": scope.as_str() }),
            ApiError::NotFound { resource, id } => json!({ "resource": resource, "id": id }),
            ApiError::MalformedJson { line, column, .. } => {
                json!({ "line": line, "column": column })
            }
            ApiError::Validation { field, line, .. } => {
                let mut details = serde_json::Map::new();
                if let Some(field) = field {
                    details.insert("field".to_owned(), json!(field));
                }
                if let Some(line) = line {
                    details.insert("line".to_owned(), json!(line));
                }
                Value::Object(details)
            }
            ApiError::ValidationList(problems) => json!({
                "field": problems.first().map(|p| p.field.as_str()),
                "errors": problems,
            }),
            ApiError::PayloadTooLarge { limit } => json!({ "limit_bytes": limit }),
            ApiError::RateLimited { retry_after_secs }
            | ApiError::Unavailable {
                retry_after_secs, ..
            } => {
                json!({ "retry_after_seconds": retry_after_secs })
            }
            _ => json!({}),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(error)
    }
}

/// A query failing inside a transaction the gateway drives itself.
impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        ApiError::from(StoreError::Query(error))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let request_id = request_context::current_request_id();
        if let ApiError::Internal(source) = self {
            tracing::error!(error = %source, request_id = request_id.as_deref().unwrap_or(""), "internal error");
        }
        let mut response = HttpResponse::build(status);
        if let ApiError::RateLimited { retry_after_secs }
        | ApiError::Unavailable {
            retry_after_secs, ..
        } = self
        {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
        }
        if let ApiError::Unauthorized(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(json!({
            "error": {
                "code": self.code().as_str(),
                "message": self.to_string(),
                "details": self.details(),
                "request_id": request_id,
            }
        }))
    }
}
