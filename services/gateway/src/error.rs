//! The gateway's one error type and its one mapping to HTTP: every failure answers with the same
//! envelope `{"error": {"code", "message", "details", "request_id"}}`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use concord_models::StoreError;
use serde_json::{json, Value};
use thiserror::Error;

use crate::auth::Scope;
use crate::request_context;

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
    /// A resource that exists only after something else happened (a model before training).
    #[error("{message}")]
    NotYet { code: &'static str, message: String },
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
    Conflict { code: &'static str, message: String },
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

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::InsufficientScope(_) => "insufficient_scope",
            ApiError::NotFound { .. } | ApiError::NoRoute { .. } => "not_found",
            ApiError::NotYet { code, .. } => code,
            ApiError::MalformedJson { .. } => "malformed_json",
            ApiError::Validation { .. } | ApiError::ValidationList(_) => "validation_failed",
            ApiError::Conflict { code, .. } => code,
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::BodyRead(_) => "bad_request",
            ApiError::Internal(_) => "internal_error",
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
            ApiError::RateLimited { retry_after_secs } => {
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
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } | ApiError::NoRoute { .. } | ApiError::NotYet { .. } => {
                StatusCode::NOT_FOUND
            }
            ApiError::MalformedJson { .. } | ApiError::BodyRead(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation { .. } | ApiError::ValidationList(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let request_id = request_context::current_request_id();
        if let ApiError::Internal(source) = self {
            tracing::error!(error = %source, request_id = request_id.as_deref().unwrap_or(""), "internal error");
        }
        let mut response = HttpResponse::build(status);
        if let ApiError::RateLimited { retry_after_secs } = self {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
        }
        if let ApiError::Unauthorized(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(json!({
            "error": {
                "code": self.code(),
                "message": self.to_string(),
                "details": self.details(),
                "request_id": request_id,
            }
        }))
    }
}
