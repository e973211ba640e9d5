//! Reading JSON with precise errors: malformed JSON is a 400 with its line and column; a missing
//! field, a wrong type or an unknown field is a 422 naming the field's path
//! (`documents[2].values.total`). Also what every upload endpoint needs: the request's media
//! type and a body read up to a limit.

use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The request's media type, lower-cased, without parameters (`text/csv; charset=utf-8` →
/// `text/csv`); empty when there is none.
pub fn media_type(req: &HttpRequest) -> String {
    content_type(req)
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The request's `Content-Type` header as it is (with its parameters, such as a boundary).
pub fn content_type(req: &HttpRequest) -> &str {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The whole body, or 413 once it exceeds `limit` bytes.
pub async fn read_limited(
    mut payload: web::Payload,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A resource a path names by a typed id, and its name in a 404.
pub trait Resource: std::str::FromStr {
    /// What a 404 calls it (`matching run`).
    const NAME: &'static str;
}

macro_rules! resources {
    ($($id:ty => $name:literal),* $(,)?) => {
        $(impl Resource for $id {
            const NAME: &'static str = $name;
        })*
    };
}

resources! {
    concord_models::ids::ApiKeyId => "API key",
    concord_models::ids::DataPolicyId => "data policy",
    concord_models::ids::DialectId => "dialect",
    concord_models::ids::JobRunId => "job run",
    concord_models::ids::MatchResultId => "match result",
    concord_models::ids::MatchingConfigId => "matching config",
    concord_models::ids::MatchingRunId => "matching run",
    concord_models::ids::ReconciliationTokenId => "reconciliation token",
    concord_models::ids::ReferenceDatasetId => "reference dataset",
    concord_models::ids::ResolutionRunId => "resolution run",
}

/// The typed id a path segment gives: a malformed id names nothing, so it is a 404 like an id of
/// nothing, or of another organisation's resource.
pub fn path_id<T: Resource>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(T::NAME, raw))
}

/// The largest body the JSON endpoints read (configs, policies, dialects, runs, reviews, keys):
/// 16 MiB. Uploads of documents and reference data have their own, larger limits.
pub const JSON_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Reads a JSON body into `T`: malformed JSON is a 400 with its line and column; a missing field,
/// a wrong type, an unknown field, or a NUL character in any string (PostgreSQL stores none) is a
/// 422 naming the field's path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    reject_nul_in_json(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(to_api_error)?;
    deserializer.end().map_err(|e| ApiError::MalformedJson {
        message: format!("malformed JSON: {e}"),
        line: Some(e.line()),
        column: Some(e.column()),
    })?;
    Ok(value)
}

/// A 422 naming `field` (and `line`) when `text` holds a NUL character, which no stored text may
/// hold.
pub fn reject_nul(field: &str, line: Option<u64>, text: &str) -> Result<(), ApiError> {
    if !text.contains('\0') {
        return Ok(());
    }
    let at = line
        .map(|line| format!("line {line}: "))
        .unwrap_or_default();
    Err(ApiError::Validation {
        field: Some(field.to_owned()),
        line,
        message: format!("{at}`{field}` must not contain a NUL character (U+0000)"),
    })
}

/// A NUL character can only reach a JSON string as the escape `\u0000`; when the body holds one,
/// the first string (or key) that decodes to a NUL is named.
fn reject_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    const ESCAPE: &[u8] = b"\\u0000";
    if !bytes.windows(ESCAPE.len()).any(|w| w == ESCAPE) {
        return Ok(());
    }
    // Malformed JSON is reported by the parse that follows.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match nul_path(&value, "") {
        Some(path) => reject_nul(&path, None, "\0"),
        None => Ok(()),
    }
}

/// The path (`documents[2].values.total`, `.` for the root) of the first string or key in
/// `value` that holds a NUL character.
fn nul_path(value: &serde_json::Value, path: &str) -> Option<String> {
    let here = || {
        if path.is_empty() {
            ".".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        serde_json::Value::String(text) => text.contains('\0').then(here),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                return Some(child);
            }
            nul_path(item, &child)
        }),
        _ => None,
    }
}

fn to_api_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = strip_position(&inner.to_string());
            // serde reports a missing field at its parent; name the field itself.
            let field = match missing_field_name(&message) {
                Some(name) if path == "." => name.to_owned(),
                Some(name) => format!("{path}.{name}"),
                None => path,
            };
            ApiError::Validation {
                message: format!("`{field}`: {message}"),
                field: Some(field),
                line: None,
            }
        }
        _ => ApiError::MalformedJson {
            message: format!("malformed JSON: {}", strip_position(&inner.to_string())),
            line: Some(inner.line()),
            column: Some(inner.column()),
        },
    }
}

fn missing_field_name(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// The request's query as `T` (its own parameters; others are ignored): 422 naming `query` when
/// it cannot be read (a parameter given twice, say).
pub fn query<T: serde::de::DeserializeOwned>(req: &actix_web::HttpRequest) -> Result<T, ApiError> {
    actix_web::web::Query::<T>::from_query(req.query_string())
        .map(actix_web::web::Query::into_inner)
        .map_err(|error| ApiError::validation("query", format!("invalid query string: {error}")))
}

/// A query parameter's text parsed as `T`, or 422 naming the parameter with what it must be.
pub fn param<T: std::str::FromStr>(
    name: &str,
    raw: Option<&str>,
    expected: &str,
) -> Result<Option<T>, ApiError> {
    raw.map(|text| {
        text.trim().parse::<T>().map_err(|_| {
            ApiError::validation(name, format!("`{name}` must be {expected}, got `{text}`"))
        })
    })
    .transpose()
}

#[derive(serde::Deserialize)]
struct VersionParams {
    version: Option<String>,
}

/// `?version=N` of a versioned resource (lookup tables, data policies, dialects): a positive
/// integer, or absent (the current version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedVersion(pub Option<i32>);

impl actix_web::FromRequest for RequestedVersion {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(query::<VersionParams>(req).and_then(|params| {
            match param::<i32>("version", params.version.as_deref(), "a positive integer")? {
                Some(version) if version < 1 => Err(ApiError::validation(
                    "version",
                    format!("`version` must be a positive integer, got `{version}`"),
                )),
                version => Ok(RequestedVersion(version)),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_messages::JobSubmission;
    use rstest::rstest;

    fn field_of(error: ApiError) -> Option<String> {
        match error {
            ApiError::Validation { field, .. } => field,
            _ => None,
        }
    }

    #[rstest]
    #[case(r#"{"documents": []}"#, "name")]
    #[case(r#"{"name": 5, "documents": []}"#, "name")]
    #[case(
        r#"{"name": "b", "documents": [{"document_id": "a", "values": {}}, {"values": {}}]}"#,
        "documents[1].document_id"
    )]
    #[case(
        r#"{"name": "b", "documents": [{"document_id": "a", "values": {"total": 12}}]}"#,
        "documents[0].values.total"
    )]
    #[case(r#"{"name": "b", "documents": [], "colour": "red"}"#, "colour")]
    fn data_errors_name_the_field(#[case] body: &str, #[case] field: &str) {
        let error = parse_json::<JobSubmission>(body.as_bytes()).expect_err("invalid");
        let message = error.to_string();
        assert_eq!(
            field_of(error)
                .as_deref()
                .map(|f| f.trim_start_matches('.')),
            Some(field),
            "{message}"
        );
    }

    #[rstest]
    #[case("{\"name\": ")]
    #[case("not json")]
    #[case("{\"name\": \"b\", \"documents\": []} trailing")]
    fn syntax_errors_are_malformed_json(#[case] body: &str) {
        assert!(matches!(
            parse_json::<JobSubmission>(body.as_bytes()),
            Err(ApiError::MalformedJson { .. })
        ));
    }
}
