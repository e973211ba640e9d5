//! The error envelope in the document, built from the one [`ErrorCode`] table: its schema (the
//! codes an answer can carry), the responses each status gives (which codes share it), and the
//! table of codes the docs page shows (`x-error-codes`).

use std::borrow::Cow;

use serde_json::{json, Value};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};
use utoipa::ToSchema;

use crate::error::ErrorCode;

/// Every refusal: `{"error": {"code", "message", "details", "request_id"}}`.
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(example = json!({"error": {"code": "validation_failed", "message": "`documents[3].document_id` must not be empty", "details": {"field": "documents[3].document_id"}, "request_id": "8f0c6a0e-5a55-4c44-9a7e-0c2b7b1f6d1e"}}))]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// What went wrong.
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
pub struct ErrorBody {
    #[schema(value_type = ErrorCodeSchema)]
    pub code: (),
    /// For people: what is wrong and, where it helps, what is allowed.
    pub message: String,
    /// For programs: `field` (a JSON path, a query parameter or a header), `line` (NDJSON and
    /// CSV), `errors` (every problem of a policy or dialect), `required_scope`, `limit_bytes`,
    /// `retry_after_seconds`, `resource` and `id` of a 404, `line` and `column` of malformed
    /// JSON.
    pub details: serde_json::Map<String, Value>,
    /// The request's id (also the `X-Request-Id` header): it finds the request in the logs.
    pub request_id: Option<String>,
}

/// The `code` of an error: one of the [`ErrorCode`] table.
pub struct ErrorCodeSchema;

impl utoipa::PartialSchema for ErrorCodeSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "The error's code; its HTTP status is fixed (the table `x-error-codes` of this document, and the README's).",
            ))
            .enum_values(Some(ErrorCode::ALL.iter().map(|code| code.as_str())))
            .into()
    }
}

impl ToSchema for ErrorCodeSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

/// The codes answered with `status`, as the document lists them (`` `not_found`, `model_not_trained` ``).
pub fn codes_of(status: u16) -> Vec<ErrorCode> {
    ErrorCode::ALL
        .iter()
        .copied()
        .filter(|code| code.status().as_u16() == status)
        .collect()
}

/// A refusal with `status`: the envelope, described by what this operation means by it.
pub fn response(status: u16, description: &str) -> Response {
    let codes: Vec<String> = codes_of(status)
        .iter()
        .map(|code| format!("`{}`", code.as_str()))
        .collect();
    let description = if description.is_empty() {
        format!("Codes: {}.", codes.join(", "))
    } else {
        description.to_owned()
    };
    let example_code = codes_of(status)
        .first()
        .map_or("internal_error", |code| code.as_str());
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorEnvelope",
                ))))
                .example(Some(json!({"error": {
                    "code": example_code,
                    "message": "what went wrong",
                    "details": {},
                    "request_id": "8f0c6a0e-5a55-4c44-9a7e-0c2b7b1f6d1e",
                }})))
                .build(),
        )
        .build()
}

/// The table of codes: `[{code, status, description}]`, in the README's order.
pub fn table() -> Value {
    Value::Array(
        ErrorCode::ALL
            .iter()
            .map(|code| {
                json!({
                    "code": code.as_str(),
                    "status": code.status().as_u16(),
                    "description": code.description(),
                })
            })
            .collect(),
    )
}
