//! The wire format of the W3C Reconciliation Service API, version 0.2
//! (<https://reconciliation-api.github.io/specs/0.2/>), over one matching config.
//!
//! **Queries.** A batch is a JSON object of queries by the caller's keys (`{"q0": {...}, ...}`),
//! at most [`MAX_QUERIES`]. Each query has its text (`query`), which fills the token's query
//! field, and/or `properties`: `{pid, v}` pairs whose `pid` is another field of the config (a
//! mapping's `source`) and whose `v` is that field's one value — a string, a number, a boolean,
//! or a reconciled entity (`{id, name}`: its name, else its id). A query must give some value.
//! `limit` (a whole number) caps the candidates; `type` (one id or a list) restricts them to the
//! service's one type, the config's dataset: a query for another type has no candidates.
//! `type_strict` is accepted and has nothing to choose between. Anything else is a 422 naming
//! the query and field (`q0.properties[1].pid`), and nothing is matched.
//!
//! **Results.** For each query, the candidates the real-time match gives the document those
//! values make, best first: `score` is the match confidence × 100, and `match` is true only for
//! the best candidate of a `matched` decision — above the threshold and clear of the runner-up —
//! so OpenRefine auto-matches only where the matcher is sure. `features` carry the best
//! candidate's per-field scores.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Queries in one batch (OpenRefine sends 10 at a time by default).
pub const MAX_QUERIES: usize = 100;
/// The longest query key.
const MAX_KEY_CHARS: usize = 200;

/// One query of a batch, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    #[serde(default)]
    query: Option<String>,
    #[serde(default, rename = "type")]
    entity_type: Option<TypeFilter>,
    #[serde(default)]
    limit: Option<serde_json::Number>,
    #[serde(default)]
    properties: Vec<PropertyConstraint>,
    /// Accepted (the service has one type: nothing to choose between).
    #[serde(default)]
    type_strict: Option<TypeStrict>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TypeFilter {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TypeStrict {
    Any,
    Should,
    All,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertyConstraint {
    pid: String,
    v: PropertyValues,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PropertyValues {
    // First: a list of two strings would otherwise read as an entity's `[id, name]`.
    Many(Vec<PropertyValue>),
    One(PropertyValue),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PropertyValue {
    Text(String),
    Flag(bool),
    Number(serde_json::Number),
    Entity(EntityRef),
}

#[derive(Debug, Deserialize)]
struct EntityRef {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

impl PropertyValue {
    fn into_text(self) -> String {
        match self {
            PropertyValue::Text(text) => text,
            PropertyValue::Flag(flag) => flag.to_string(),
            PropertyValue::Number(number) => number.to_string(),
            PropertyValue::Entity(entity) => entity.name.unwrap_or(entity.id),
        }
    }
}

/// The fields a query may fill: the token's query field and the config's other fields.
#[derive(Debug, Clone)]
pub struct QueryFields {
    /// The field a query's text fills.
    pub query_field: String,
    /// Every field of the config (its mappings' `source`s), the query field included.
    pub fields: Vec<String>,
}

/// One query, parsed: the document its values make.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconciliationQuery {
    /// The caller's key for it, echoed in the results.
    pub key: String,
    /// The document's values by field.
    pub values: BTreeMap<String, String>,
    /// At most this many candidates (`None`: every candidate the match gives).
    pub limit: Option<usize>,
    /// The types asked for (empty: any).
    pub types: Vec<String>,
}

impl ReconciliationQuery {
    /// Whether the query may have candidates of the service's type `type_id`.
    pub fn wants_type(&self, type_id: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| t == type_id)
    }
}

/// Parses a batch (the `queries` parameter, or a JSON body): 422 naming the query and its
/// field for anything the config cannot answer.
pub fn parse_batch(
    json: &[u8],
    fields: &QueryFields,
) -> Result<Vec<ReconciliationQuery>, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let batch: BTreeMap<String, QueryBody> =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let field = if path == "." { "queries".to_owned() } else { path };
            ApiError::validation(
                &field,
                format!(
                    "`{field}`: {} (a batch is an object of queries, each {{\"query\", \"type\", \"limit\", \"properties\", \"type_strict\"}})",
                    error.inner()
                ),
            )
        })?;
    deserializer
        .end()
        .map_err(|error| ApiError::validation("queries", format!("`queries`: {error}")))?;
    if batch.is_empty() || batch.len() > MAX_QUERIES {
        return Err(ApiError::validation(
            "queries",
            format!(
                "a batch holds 1 to {MAX_QUERIES} queries, this one {}",
                batch.len()
            ),
        ));
    }
    batch
        .into_iter()
        .map(|(key, body)| parse_query(key, body, fields))
        .collect()
}

fn parse_query(
    key: String,
    body: QueryBody,
    fields: &QueryFields,
) -> Result<ReconciliationQuery, ApiError> {
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
        return Err(ApiError::validation(
            "queries",
            format!("query keys must be 1 to {MAX_KEY_CHARS} characters"),
        ));
    }
    let mut values = BTreeMap::new();
    if let Some(text) = body.query.filter(|t| !t.trim().is_empty()) {
        values.insert(fields.query_field.clone(), text);
    }
    for (index, property) in body.properties.into_iter().enumerate() {
        let at = format!("{key}.properties[{index}]");
        if !fields.fields.contains(&property.pid) {
            return Err(ApiError::validation(
                format!("{at}.pid"),
                format!(
                    "`{at}.pid`: `{}` is not a field of the config (its fields: {})",
                    property.pid,
                    fields.fields.join(", ")
                ),
            ));
        }
        let value = match property.v {
            PropertyValues::One(value) => Some(value),
            PropertyValues::Many(list) => {
                if list.len() > 1 {
                    return Err(ApiError::validation(
                        format!("{at}.v"),
                        format!(
                            "`{at}.v`: a field of the config takes one value, not {}",
                            list.len()
                        ),
                    ));
                }
                list.into_iter().next()
            }
        };
        let Some(text) = value.map(PropertyValue::into_text) else {
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        if values.insert(property.pid.clone(), text).is_some() {
            let what = if property.pid == fields.query_field {
                "is the field the query's text fills".to_owned()
            } else {
                "is given twice".to_owned()
            };
            return Err(ApiError::validation(
                format!("{at}.pid"),
                format!("`{at}.pid`: `{}` {what}", property.pid),
            ));
        }
    }
    if values.is_empty() {
        return Err(ApiError::validation(
            format!("{key}.query"),
            format!("`{key}`: a query needs its text (`query`) or a property value"),
        ));
    }
    let limit = match body.limit {
        None => None,
        Some(number) => Some(
            number
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    ApiError::validation(
                        format!("{key}.limit"),
                        format!("`{key}.limit` must be a whole number of 0 or more, got {number}"),
                    )
                })?,
        ),
    };
    // Checked when parsed; with one type there is nothing to apply it to.
    let _one_type_service = body.type_strict;
    let types = match body.entity_type {
        None => Vec::new(),
        Some(TypeFilter::One(one)) => vec![one],
        Some(TypeFilter::Many(many)) => many,
    };
    Ok(ReconciliationQuery {
        key,
        values,
        limit,
        types,
    })
}

/// A type: the service has one, the config's reference dataset.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntityType {
    pub id: String,
    pub name: String,
}

/// A candidate of one query.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    /// The reference row's id.
    pub id: String,
    /// The row's value of the query field's column (its id when that is empty).
    pub name: String,
    /// The row's other matched columns, `column: value`, to tell namesakes apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub description: Option<String>,
    /// The match confidence × 100.
    pub score: f64,
    /// True only for the best candidate of a `matched` decision.
    #[serde(rename = "match")]
    pub is_match: bool,
    #[serde(rename = "type")]
    pub types: Vec<EntityType>,
    /// The best candidate's score per field (0–1), by field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub features: Vec<Feature>,
}

/// One field's score of the best candidate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Feature {
    pub id: String,
    pub value: f64,
}

/// The candidates of one query.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueryResult {
    pub result: Vec<Candidate>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn fields() -> QueryFields {
        QueryFields {
            query_field: "vendor_name".to_owned(),
            fields: vec!["vendor_name".to_owned(), "tax_id".to_owned()],
        }
    }

    fn field_of(error: ApiError) -> String {
        match error {
            ApiError::Validation { field, .. } => field.expect("a field"),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_batch_parses_into_documents_with_their_keys_limits_and_types() {
        let batch = br#"{
            "q0": {"query": "Acme GmbH", "limit": 3, "type": "ds", "type_strict": "should"},
            "q1": {"query": "Globex", "properties": [{"pid": "tax_id", "v": "DE123"}]},
            "q2": {"properties": [{"pid": "tax_id", "v": [{"id": "X1", "name": "DE9"}]}], "type": ["a", "b"]},
            "q3": {"query": "Initech", "properties": [{"pid": "tax_id", "v": 12.5}]}
        }"#;
        let queries = parse_batch(batch, &fields()).expect("valid");
        assert_eq!(queries.len(), 4);
        assert_eq!(queries[0].key, "q0");
        assert_eq!(queries[0].values["vendor_name"], "Acme GmbH");
        assert_eq!(queries[0].limit, Some(3));
        assert!(queries[0].wants_type("ds") && !queries[0].wants_type("other"));
        assert_eq!(queries[1].values["tax_id"], "DE123");
        assert_eq!(queries[2].values.len(), 1);
        assert_eq!(queries[2].values["tax_id"], "DE9");
        assert_eq!(queries[2].types, vec!["a", "b"]);
        assert!(queries[1].wants_type("anything"));
        assert_eq!(queries[3].values["tax_id"], "12.5");
    }

    #[rstest]
    #[case::not_an_object(br#"[1, 2]"#.as_slice(), "queries")]
    #[case::empty(br#"{}"#.as_slice(), "queries")]
    #[case::trailing(br#"{"q0": {"query": "a"}} x"#.as_slice(), "queries")]
    #[case::unknown_member(br#"{"q0": {"query": "a", "size": 3}}"#.as_slice(), "q0.size")]
    #[case::unknown_pid(br#"{"q0": {"query": "a", "properties": [{"pid": "iban", "v": "x"}]}}"#.as_slice(), "q0.properties[0].pid")]
    #[case::twice(br#"{"q0": {"query": "a", "properties": [{"pid": "tax_id", "v": "x"}, {"pid": "tax_id", "v": "y"}]}}"#.as_slice(), "q0.properties[1].pid")]
    #[case::query_field_twice(br#"{"q0": {"query": "a", "properties": [{"pid": "vendor_name", "v": "b"}]}}"#.as_slice(), "q0.properties[0].pid")]
    #[case::two_values(br#"{"q0": {"properties": [{"pid": "tax_id", "v": ["x", "y"]}]}}"#.as_slice(), "q0.properties[0].v")]
    #[case::no_value(br#"{"q0": {"query": "  "}}"#.as_slice(), "q0.query")]
    #[case::negative_limit(br#"{"q0": {"query": "a", "limit": -1}}"#.as_slice(), "q0.limit")]
    #[case::fractional_limit(br#"{"q0": {"query": "a", "limit": 2.5}}"#.as_slice(), "q0.limit")]
    #[case::bad_strictness(br#"{"q0": {"query": "a", "type_strict": "most"}}"#.as_slice(), "q0.type_strict")]
    fn a_bad_batch_is_refused_naming_the_query_and_field(
        #[case] batch: &[u8],
        #[case] field: &str,
    ) {
        let error = parse_batch(batch, &fields()).expect_err("refused");
        assert_eq!(field_of(error), field);
    }

    #[test]
    fn a_batch_over_the_bound_is_refused() {
        let queries: BTreeMap<String, serde_json::Value> = (0..=MAX_QUERIES)
            .map(|i| (format!("q{i}"), serde_json::json!({"query": "a"})))
            .collect();
        let batch = serde_json::to_vec(&queries).expect("json");
        assert_eq!(
            field_of(parse_batch(&batch, &fields()).expect_err("refused")),
            "queries"
        );
    }

    #[test]
    fn candidates_serialise_as_the_specification_names_them() {
        let candidate = Candidate {
            id: "V1".to_owned(),
            name: "Acme".to_owned(),
            description: None,
            score: 97.5,
            is_match: true,
            types: vec![EntityType {
                id: "t".to_owned(),
                name: "vendors".to_owned(),
            }],
            features: Vec::new(),
        };
        let json = serde_json::to_value(&candidate).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"id": "V1", "name": "Acme", "score": 97.5, "match": true, "type": [{"id": "t", "name": "vendors"}]})
        );
    }
}
