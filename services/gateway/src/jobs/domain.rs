//! Parse, don't validate: a submitted document becomes a [`ValidDocument`] or an error naming its
//! field; nothing downstream checks again.

use std::collections::BTreeMap;

use concord_messages::SubmittedDocument;

use crate::error::ApiError;

pub const MAX_DOCUMENT_ID_CHARS: usize = 256;
pub const MAX_FILENAME_CHARS: usize = 1024;
pub const MAX_FIELD_NAME_CHARS: usize = 200;
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Documents in one JSON body; larger batches stream as NDJSON.
pub const MAX_JSON_DOCUMENTS: usize = 10_000;

/// A document that passed every rule: a non-empty id, bounded sizes, string values (null values
/// dropped as "not found").
#[derive(Debug, Clone, PartialEq)]
pub struct ValidDocument {
    pub document_id: String,
    pub filename: String,
    pub values: BTreeMap<String, String>,
}

impl ValidDocument {
    /// `path` names the document in errors (`documents[3]`, or empty for an NDJSON line).
    pub fn parse(path: &str, raw: SubmittedDocument) -> Result<ValidDocument, ApiError> {
        let at = |field: &str| {
            if path.is_empty() {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            }
        };
        let document_id = raw.document_id.trim().to_owned();
        if document_id.is_empty() {
            let field = at("document_id");
            return Err(ApiError::validation(
                &field,
                format!("`{field}` must not be empty"),
            ));
        }
        if document_id.chars().count() > MAX_DOCUMENT_ID_CHARS {
            let field = at("document_id");
            return Err(ApiError::validation(
                &field,
                format!("`{field}` must be at most {MAX_DOCUMENT_ID_CHARS} characters"),
            ));
        }
        let filename = raw.filename.unwrap_or_default();
        if filename.chars().count() > MAX_FILENAME_CHARS {
            let field = at("filename");
            return Err(ApiError::validation(
                &field,
                format!("`{field}` must be at most {MAX_FILENAME_CHARS} characters"),
            ));
        }
        let values = valid_values(path, raw.values)?;
        Ok(ValidDocument {
            document_id,
            filename,
            values,
        })
    }
}

/// A document's values (`path` names the document, as in [`ValidDocument::parse`]): names of 1 to
/// [`MAX_FIELD_NAME_CHARS`] characters, values of at most [`MAX_VALUE_BYTES`] bytes, null values
/// dropped as "not found".
pub fn valid_values(
    path: &str,
    raw: impl IntoIterator<Item = (String, Option<String>)>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut values = BTreeMap::new();
    for (name, value) in raw {
        let field = if path.is_empty() {
            format!("values.{name}")
        } else {
            format!("{path}.values.{name}")
        };
        if name.trim().is_empty() || name.chars().count() > MAX_FIELD_NAME_CHARS {
            return Err(ApiError::validation(
                &field,
                format!("field names must be 1 to {MAX_FIELD_NAME_CHARS} characters"),
            ));
        }
        let Some(value) = value else { continue };
        if value.len() > MAX_VALUE_BYTES {
            return Err(ApiError::validation(
                &field,
                format!("`{field}` must be at most {MAX_VALUE_BYTES} bytes"),
            ));
        }
        values.insert(name, value);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn raw(id: &str, values: &[(&str, Option<&str>)]) -> SubmittedDocument {
        SubmittedDocument {
            document_id: id.to_owned(),
            filename: None,
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect(),
        }
    }

    #[test]
    fn null_values_are_dropped_and_ids_trimmed() {
        let doc = ValidDocument::parse(
            "documents[0]",
            raw(" d1 ", &[("a", Some("x")), ("b", None)]),
        )
        .expect("valid");
        assert_eq!(doc.document_id, "d1");
        assert_eq!(doc.values.len(), 1);
        assert_eq!(doc.filename, "");
    }

    #[rstest]
    #[case(raw("", &[]), "documents[2].document_id")]
    #[case(raw("   ", &[]), "documents[2].document_id")]
    #[case(raw(&"x".repeat(257), &[]), "documents[2].document_id")]
    #[case(raw("d", &[(" ", Some("v"))]), "documents[2].values. ")]
    fn invalid_documents_name_their_field(
        #[case] document: SubmittedDocument,
        #[case] field: &str,
    ) {
        match ValidDocument::parse("documents[2]", document) {
            Err(ApiError::Validation { field: Some(f), .. }) => assert_eq!(f, field),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }
}
