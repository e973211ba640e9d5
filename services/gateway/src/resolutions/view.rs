//! What the resolution endpoints answer, and the rendering of resolved values in a run's dialect.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use concord_models::resolution_results::ResolutionCandidate;
use concord_models::resolution_results::ResolutionResult;
use concord_models::resolution_runs::{ResolutionRun, ResolutionRunStatus};
use concord_scoring::dialect::DialectSettings;
use concord_scoring::policy::{FieldSpec, FieldType, ResolvedValue};
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::ApiError;

/// A resolution run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "01938f70-0000-7000-8000-0000000000aa", "status": "completed", "source_run_id": "01938f5e-8f7a-7c3e-9a55-2b1f0c3d4e5f", "policy_id": "01938f71-0000-7000-8000-0000000000bb", "policy_version": 2, "dialect_id": "01938f72-0000-7000-8000-0000000000cc", "dialect_version": 1, "counters": {"documents_total": 2, "documents_processed": 2, "fields_resolved": 5, "fields_unresolved": 1, "fields_waiting": 0, "ai_items": 0, "ai_accepted": 0, "ai_flagged": 0, "ai_calls": 0}, "error": null, "created_at": "2026-03-31T09:20:00Z", "updated_at": "2026-03-31T09:20:03Z", "started_at": "2026-03-31T09:20:01Z", "completed_at": "2026-03-31T09:20:03Z", "links": {"self": "/v1/resolutions/01938f70-0000-7000-8000-0000000000aa", "execute": "/v1/resolutions/01938f70-0000-7000-8000-0000000000aa/execute", "results": "/v1/resolutions/01938f70-0000-7000-8000-0000000000aa/results", "export": "/v1/resolutions/01938f70-0000-7000-8000-0000000000aa/results/export", "source_run": "/v1/jobs/01938f5e-8f7a-7c3e-9a55-2b1f0c3d4e5f"}}))]
pub struct ResolutionRunView {
    pub id: String,
    #[schema(value_type = crate::openapi::schemas::ResolutionRunStatusSchema)]
    pub status: ResolutionRunStatus,
    pub source_run_id: String,
    pub policy_id: Option<String>,
    pub policy_version: Option<i32>,
    pub dialect_id: Option<String>,
    pub dialect_version: Option<i32>,
    pub counters: CountersView,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub links: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountersView {
    pub documents_total: i32,
    pub documents_processed: i32,
    pub fields_resolved: i32,
    pub fields_unresolved: i32,
    /// Values a `fallback: "llm"` lookup could not settle, handed to the ai-resolver.
    pub fields_waiting: i32,
    /// The AI pass: distinct values shown to the model, answers used, values flagged (the
    /// model's answer not used), model calls.
    pub ai_items: i32,
    pub ai_accepted: i32,
    pub ai_flagged: i32,
    pub ai_calls: i32,
}

impl From<ResolutionRun> for ResolutionRunView {
    fn from(run: ResolutionRun) -> Self {
        let id = run.id.to_string();
        let policy_version = Some(run.policy_snapshot.0.version);
        let dialect_version = run.dialect_snapshot.as_ref().map(|d| d.0.version);
        Self {
            links: json!({
                "self": format!("/v1/resolutions/{id}"),
                "execute": format!("/v1/resolutions/{id}/execute"),
                "results": format!("/v1/resolutions/{id}/results"),
                "export": format!("/v1/resolutions/{id}/results/export"),
                "source_run": format!("/v1/jobs/{}", run.source_run_id),
            }),
            id,
            status: run.status,
            source_run_id: run.source_run_id.to_string(),
            policy_id: run.policy_id.map(|id| id.to_string()),
            policy_version,
            dialect_id: run.dialect_id.map(|id| id.to_string()),
            dialect_version,
            counters: CountersView {
                documents_total: run.documents_total,
                documents_processed: run.documents_processed,
                fields_resolved: run.fields_resolved,
                fields_unresolved: run.fields_unresolved,
                fields_waiting: run.fields_waiting,
                ai_items: run.ai_items,
                ai_accepted: run.ai_accepted,
                ai_flagged: run.ai_flagged,
                ai_calls: run.ai_calls,
            },
            error: run.error,
            created_at: run.created_at,
            updated_at: run.updated_at,
            started_at: run.started_at,
            completed_at: run.completed_at,
        }
    }
}

/// Renders a run's resolved values in its dialect (the default dialect when it has none).
pub struct Renderer {
    pub settings: DialectSettings,
    /// The policy's fields, in the policy's order (the export's columns).
    pub fields: Vec<(String, FieldType)>,
    /// A field's place in `fields`, by key.
    positions: HashMap<String, usize>,
}

impl Renderer {
    pub fn of(run: &ResolutionRun) -> Result<Renderer, ApiError> {
        let settings = match &run.dialect_snapshot {
            None => DialectSettings::default(),
            Some(snapshot) => snapshot.0.settings.clone(),
        };
        let specs: Vec<FieldSpec> = run.policy_snapshot.0.fields.clone();
        let fields: Vec<(String, FieldType)> = specs
            .into_iter()
            .map(|spec| {
                let field_type = FieldType::parse(&spec.field_type).ok_or_else(|| {
                    ApiError::internal_message(format!(
                        "run {}: the policy snapshot's field `{}` has the unknown type `{}`",
                        run.id, spec.field_key, spec.field_type
                    ))
                })?;
                Ok((spec.field_key, field_type))
            })
            .collect::<Result<_, ApiError>>()?;
        let positions = fields
            .iter()
            .enumerate()
            .map(|(position, (key, _)): (usize, &(String, FieldType))| (key.clone(), position))
            .collect();
        Ok(Renderer {
            settings,
            fields,
            positions,
        })
    }

    /// Where the field `key` stands in the policy's order, when the policy has it.
    pub fn position_of(&self, key: &str) -> Option<usize> {
        self.positions.get(key).copied()
    }

    /// The value of the field `key` as the dialect writes it (`null_representation` for none).
    pub fn render(&self, key: &str, value: Option<&Value>) -> String {
        let field = self.position_of(key).and_then(|p| self.fields.get(p));
        let typed = match (field, value) {
            (Some((_, field_type)), Some(value)) => ResolvedValue::from_json(field_type, value),
            _ => None,
        };
        self.settings.render(typed.as_ref())
    }
}

/// One field of one document, resolved.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"document_id": "inv-001", "field_key": "currency", "original_value": "US dollars", "resolved_value": "USD", "rendered_value": "USD", "resolution_step": "lookup", "confidence": 0.97, "status": "resolved", "candidates": [{"code": "USD", "label": "US Dollar", "score": 0.97}], "reason": null, "model": null, "rationale": null, "ai_flag": null}))]
pub struct ResolutionResultView {
    pub document_id: String,
    pub field_key: String,
    pub original_value: Option<String>,
    /// The typed value (its JSON type the policy field's); null when unresolved.
    pub resolved_value: Option<Value>,
    /// `resolved_value` as the run's dialect renders it.
    pub rendered_value: String,
    #[schema(value_type = Option<crate::openapi::schemas::ResolutionStepSchema>)]
    pub resolution_step: Option<&'static str>,
    pub confidence: f64,
    #[schema(value_type = crate::openapi::schemas::ResolutionStatusSchema)]
    pub status: &'static str,
    #[schema(value_type = Vec<crate::openapi::schemas::ResolutionCandidateSchema>)]
    pub candidates: Vec<ResolutionCandidate>,
    pub reason: Option<String>,
    /// For a value the model decided (step `llm`): the model and its one-sentence rationale.
    pub model: Option<String>,
    pub rationale: Option<String>,
    /// For a value that waited for the model and did not get a usable answer: why
    /// (`timeout`, `budget_spent`, `not_offered`, `low_confidence`, ...).
    pub ai_flag: Option<String>,
}

impl ResolutionResultView {
    pub fn new(row: ResolutionResult, renderer: &Renderer) -> Self {
        Self {
            rendered_value: renderer.render(&row.field_key, row.resolved_value.as_ref()),
            document_id: row.document_id,
            field_key: row.field_key,
            original_value: row.original_value,
            resolved_value: row.resolved_value,
            resolution_step: row.resolution_step.map(|step| step.as_str()),
            confidence: row.confidence,
            status: row.status.as_str(),
            candidates: row.candidates.map(|c| c.0).unwrap_or_default(),
            reason: row.reason,
            model: row.model,
            rationale: row.rationale,
            ai_flag: row.ai_flag,
        }
    }
}
