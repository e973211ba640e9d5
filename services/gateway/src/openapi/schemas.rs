//! Schemas of what the gateway's views embed from other crates (`concord-models`,
//! `concord-scoring`, `concord-messages`), written here so that storage and the pure scoring core
//! stay free of the documentation crate. A view names one with `#[schema(value_type = ...)]`.
//!
//! The enums are built from the stored enum's own `ALL` and `as_str`, so they cannot drift; the
//! structs mirror their original field by field, and the tests at the end serialise the original
//! and compare its keys with the mirror's properties.

use std::borrow::Cow;

use concord_models::job_runs::{JobRunStatus, JobSource};
use concord_models::match_results::{ResolvedBy, ReviewStatus};
use concord_models::matching_configs::{Assignment, Scoring};
use concord_models::matching_models::MatchingModelStatus;
use concord_models::matching_runs::{MatchingMode, MatchingRunStatus};
use concord_models::reference_datasets::ColumnType;
use concord_models::resolution_results::{ResolutionStatus, ResolutionStep};
use concord_models::resolution_runs::ResolutionRunStatus;
use concord_models::webhook_deliveries::WebhookDeliveryStatus;
use serde_json::{Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// A string schema whose values are a stored enum's (`ALL`, `as_str`).
macro_rules! text_enum_schemas {
    ($($schema:ident => $ty:ty, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub struct $schema;

            impl utoipa::PartialSchema for $schema {
                fn schema() -> RefOr<Schema> {
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .description(Some($doc))
                        .enum_values(Some(<$ty>::ALL.iter().map(|value| value.as_str())))
                        .into()
                }
            }

            impl ToSchema for $schema {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($schema))
                }
            }
        )*
    };
}

text_enum_schemas! {
    JobRunStatusSchema => JobRunStatus, "A job run's status: pending → processing → completed | failed.";
    JobSourceSchema => JobSource, "How the batch reached Concord: `rest` or the `intake` queue.";
    ScoringSchema => Scoring, "How candidates get their confidence: a learnt Fellegi–Sunter model (`probabilistic`) or the weighted mean of the field scores (`weighted`).";
    AssignmentSchema => Assignment, "`independent`: each document takes its best row; `one_to_one`: a reference row is matched at most once per run.";
    MatchingModeSchema => MatchingMode, "`manual`: the deterministic pass only; `smart`: then the AI pass over the review band.";
    MatchingRunStatusSchema => MatchingRunStatus, "A matching run's status.";
    ReviewStatusSchema => ReviewStatus, "A result's review status.";
    ResolvedBySchema => ResolvedBy, "Who settled the result: the `rules` (threshold), the `ai` pass or a `reviewer`.";
    MatchingModelStatusSchema => MatchingModelStatus, "A model's status: `training` until a worker has learnt it, then `ready` (or `failed`).";
    ResolutionRunStatusSchema => ResolutionRunStatus, "A resolution run's status.";
    ColumnTypeSchema => ColumnType, "The narrowest type every non-empty value of the column fits, inferred at upload.";
    ResolutionStepSchema => ResolutionStep, "The step of the policy that resolved the value.";
    ResolutionStatusSchema => ResolutionStatus, "A resolved value's status.";
    WebhookDeliveryStatusSchema => WebhookDeliveryStatus, "A webhook delivery's status: `pending` (due again at `next_attempt_at`), `delivered` (a 2xx answer) or `failed` (past its retry window).";
}

/// A string schema of fixed values.
macro_rules! string_enum_schemas {
    ($($schema:ident => [$($value:literal),+], $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub struct $schema;

            impl utoipa::PartialSchema for $schema {
                fn schema() -> RefOr<Schema> {
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .description(Some($doc))
                        .enum_values(Some([$($value),+]))
                        .into()
                }
            }

            impl ToSchema for $schema {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($schema))
                }
            }
        )*
    };
}

string_enum_schemas! {
    StrategySchema => ["exact", "fuzzy", "date_range", "numeric_range"], "How a field is compared (README, \"Matching: strategies and decisions\").";
    EncodingSchema => ["utf-8", "utf-8-bom", "iso-8859-1", "windows-1252"], "The export's text encoding.";
}

/// One field mapping of a matching config (`concord_scoring::matcher::FieldMapping`).
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = FieldMapping, example = json!({"source": "vendor_name", "target": "vendor", "strategy": "fuzzy", "params": {"kind": "name"}}))]
pub struct FieldMappingSchema {
    /// The document field name.
    pub source: String,
    /// The reference dataset column name.
    pub target: String,
    /// `exact`, `fuzzy`, `date_range` or `numeric_range`.
    #[schema(value_type = StrategySchema)]
    pub strategy: String,
    /// The strategy's parameters (README, "Matching: strategies and decisions").
    #[schema(required = false)]
    pub params: Map<String, Value>,
    /// The field's weight (finite, > 0; default 1) under `weighted` scoring.
    #[schema(required = false, nullable = false)]
    pub weight: Option<f64>,
}

/// What a run keeps of its config when it is created
/// (`concord_models::matching_runs::ConfigSnapshot`).
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = ConfigSnapshot)]
pub struct ConfigSnapshotSchema {
    #[schema(format = Uuid)]
    pub config_id: String,
    pub name: String,
    pub version: i32,
    #[schema(format = Uuid)]
    pub reference_data_id: String,
    #[schema(value_type = Vec<FieldMappingSchema>)]
    pub field_mappings: Vec<()>,
    pub threshold: f64,
    pub review_floor: f64,
    pub ambiguity_margin: f64,
    /// Documents per chunk.
    pub chunk_size: i32,
    /// How many of the best candidates each result keeps (null: the default, 5).
    pub candidates: Option<i32>,
    #[schema(value_type = ScoringSchema)]
    pub scoring: (),
    #[schema(value_type = AssignmentSchema)]
    pub assignment: (),
}

/// One field's evidence for the best candidate
/// (`concord_models::match_results::FieldEvidence`).
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = FieldEvidence)]
pub struct FieldEvidenceSchema {
    pub source: String,
    pub target: String,
    pub strategy: String,
    /// The graded score in `[0, 1]`; null when the value is missing on either side.
    pub score: Option<f64>,
    /// The comparison level the score fell into; null when missing.
    pub level: Option<String>,
    /// What the field adds to the match weight, in bits (probabilistic runs).
    pub match_weight: Option<f64>,
    pub document_value: Option<String>,
    pub reference_value: Option<String>,
}

/// One of a result's top candidates (`concord_models::match_results::MatchCandidate`).
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = MatchCandidate)]
pub struct MatchCandidateSchema {
    pub reference_row_id: String,
    pub confidence: f64,
    /// Its match weight in bits (probabilistic runs only).
    #[schema(required = false, nullable = false)]
    pub match_weight: Option<f64>,
    /// Its candidate weight in bits (probabilistic runs only).
    #[schema(required = false, nullable = false)]
    pub candidate_weight: Option<f64>,
}

/// One column of a reference dataset
/// (`concord_models::reference_datasets::ReferenceColumn`).
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = ReferenceColumn)]
pub struct ReferenceColumnSchema {
    pub name: String,
    #[schema(value_type = ColumnTypeSchema, rename = "type")]
    pub column_type: (),
    /// How many of its cells are not empty.
    pub non_empty: i64,
}

/// A code a lookup weighed for a value
/// (`concord_models::resolution_results::ResolutionCandidate`).
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = ResolutionCandidate)]
pub struct ResolutionCandidateSchema {
    pub code: String,
    pub label: String,
    /// Similarity in `[0, 1]`.
    pub score: f64,
}

/// One field of a data policy's output contract (`concord_scoring::policy::FieldSpec`).
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = FieldSpec, example = json!({"field_key": "currency", "type": "code"}))]
pub struct FieldSpecSchema {
    pub field_key: String,
    /// `string`, `number`, `date`, `boolean` or `code`.
    #[schema(rename = "type")]
    pub field_type: String,
    #[schema(required = false, nullable = false)]
    pub description: Option<String>,
}

/// One rule of a data policy (`concord_scoring::policy::RuleSpec`).
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = RuleSpec, example = json!({"rule_type": "lookup", "target_field": "currency", "config": {"source_field": "currency", "table": "iso-4217"}}))]
pub struct RuleSpecSchema {
    /// What derives the field (README, "Data policies").
    pub rule_type: String,
    pub target_field: String,
    /// The rule's settings.
    #[schema(required = false)]
    pub config: Map<String, Value>,
}

/// A dialect's settings (`concord_scoring::dialect::DialectSettings`), as they are answered.
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = DialectSettings)]
pub struct DialectSettingsSchema {
    /// `DD.MM.YYYY`, `MM/DD/YYYY`, … or a strftime pattern.
    pub date_format: String,
    /// The number locale (its decimal mark), e.g. `de-DE`.
    pub number_locale: String,
    /// The export's field delimiter (one character).
    pub delimiter: String,
    /// What the export writes for no value.
    pub null_representation: String,
    /// `utf-8`, `utf-8-bom`, `iso-8859-1` or `windows-1252`.
    pub encoding: String,
    pub boolean_format: BooleanFormatSchema,
}

/// How a boolean is written.
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = BooleanFormat)]
pub struct BooleanFormatSchema {
    #[schema(rename = "true")]
    pub true_: String,
    #[schema(rename = "false")]
    pub false_: String,
}

/// A batch of documents (`concord_messages::JobSubmission`, the same JSON as the intake queue's
/// message, `proto-schemas/v1/job-submission.json`).
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = JobSubmission, example = json!({"name": "March invoices", "documents": [{"document_id": "inv-001", "filename": "inv-001.pdf", "values": {"vendor_name": "Acme GmbH", "total": "1.234,50 EUR", "po_number": null}}]}))]
pub struct JobSubmissionSchema {
    /// 1 to 200 characters, not only blanks.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Up to 10,000 documents (larger batches stream as NDJSON).
    #[schema(max_items = 10000)]
    pub documents: Vec<SubmittedDocumentSchema>,
}

/// One document of a batch: its id, file name and extracted values (raw strings; null: not
/// found).
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = SubmittedDocument)]
pub struct SubmittedDocumentSchema {
    /// 1 to 256 characters, not only blanks.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub document_id: String,
    #[schema(required = false)]
    pub filename: Option<String>,
    /// Field name → raw extracted value (up to 64 KiB), or null when not found.
    pub values: std::collections::BTreeMap<String, Option<String>>,
}

/// What a reconciliation service answers a `GET`: its manifest, or (with `queries`) the
/// candidates of each query by its key.
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema, serde::Serialize)]
#[serde(untagged)]
#[schema(as = ReconciliationAnswer)]
pub enum ReconciliationAnswerSchema {
    Manifest(Box<crate::reconcile::service::Manifest>),
    Results(std::collections::BTreeMap<String, crate::reconcile::protocol::QueryResult>),
}

/// A batch of reconciliation queries as OpenRefine posts it.
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = QueriesForm)]
pub struct QueriesFormSchema {
    /// The batch as JSON: `{"q0": {"query": "Acme GmbH", "limit": 3}}`.
    pub queries: String,
}

/// A dialect's body: its `name` (required on creation) and any of its settings; a `PATCH`
/// changes those it gives.
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = DialectRequest, example = json!({"name": "German ERP", "date_format": "DD.MM.YYYY", "number_locale": "de-DE", "delimiter": ";", "encoding": "windows-1252", "boolean_format": {"true": "ja", "false": "nein"}}))]
pub struct DialectRequestSchema {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// `DD.MM.YYYY`, `MM/DD/YYYY`, … or a strftime pattern (default `YYYY-MM-DD`).
    pub date_format: Option<String>,
    /// The number locale, e.g. `de-DE` (default `en-US`).
    pub number_locale: Option<String>,
    /// One character (default `,`).
    #[schema(min_length = 1, max_length = 1)]
    pub delimiter: Option<String>,
    /// Default empty.
    pub null_representation: Option<String>,
    /// `utf-8` (default), `utf-8-bom`, `iso-8859-1` or `windows-1252`.
    #[schema(value_type = Option<EncodingSchema>)]
    pub encoding: Option<String>,
    pub boolean_format: Option<BooleanFormatSchema>,
}

/// One part of a policy version: its fields.
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = DataPolicyFields)]
pub struct PolicyFieldsSchema {
    pub policy_id: String,
    pub version: i32,
    pub data: Vec<FieldSpecSchema>,
}

/// One part of a policy version: its rules.
#[allow(dead_code)] // a schema: never built, only described
#[derive(ToSchema)]
#[schema(as = DataPolicyRules)]
pub struct PolicyRulesSchema {
    pub policy_id: String,
    pub version: i32,
    pub data: Vec<RuleSpecSchema>,
}

#[cfg(test)]
mod tests {
    //! Each mirror has the keys its original serialises to.
    use std::collections::BTreeSet;

    use utoipa::PartialSchema;

    use super::*;

    fn properties<T: PartialSchema>() -> BTreeSet<String> {
        let schema = serde_json::to_value(T::schema()).expect("a schema serialises");
        schema["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect()
    }

    fn keys(value: impl serde::Serialize) -> BTreeSet<String> {
        serde_json::to_value(value)
            .expect("serialises")
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn the_mirrors_have_the_keys_of_their_originals() {
        use concord_models::match_results::{FieldEvidence, MatchCandidate};
        use concord_models::reference_datasets::ReferenceColumn;
        use concord_models::resolution_results::ResolutionCandidate;

        let evidence = FieldEvidence {
            source: "a".into(),
            target: "b".into(),
            strategy: "exact".into(),
            score: None,
            level: None,
            match_weight: None,
            document_value: None,
            reference_value: None,
        };
        assert_eq!(keys(&evidence), properties::<FieldEvidenceSchema>());
        let candidate = MatchCandidate {
            reference_row_id: "r".into(),
            confidence: 0.5,
            match_weight: Some(1.0),
            candidate_weight: Some(1.0),
        };
        assert_eq!(keys(&candidate), properties::<MatchCandidateSchema>());
        let column = ReferenceColumn {
            name: "c".into(),
            column_type: ColumnType::String,
            non_empty: 1,
        };
        assert_eq!(keys(&column), properties::<ReferenceColumnSchema>());
        let code = ResolutionCandidate {
            code: "EUR".into(),
            label: "Euro".into(),
            score: 1.0,
        };
        assert_eq!(keys(&code), properties::<ResolutionCandidateSchema>());
        assert_eq!(
            keys(concord_scoring::dialect::DialectSettings::default()),
            properties::<DialectSettingsSchema>()
        );
        let mapping: concord_scoring::matcher::FieldMapping = serde_json::from_value(
            serde_json::json!({"source": "a", "target": "b", "strategy": "exact", "weight": 1.0}),
        )
        .expect("a mapping");
        assert_eq!(keys(&mapping), properties::<FieldMappingSchema>());
        let spec: concord_scoring::policy::FieldSpec = serde_json::from_value(
            serde_json::json!({"field_key": "a", "type": "string", "description": "d"}),
        )
        .expect("a field");
        assert_eq!(keys(&spec), properties::<FieldSpecSchema>());
        let rule: concord_scoring::policy::RuleSpec =
            serde_json::from_value(serde_json::json!({"rule_type": "copy", "target_field": "a"}))
                .expect("a rule");
        assert_eq!(keys(&rule), properties::<RuleSpecSchema>());
    }
}
