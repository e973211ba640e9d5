//! What the matching endpoints answer.

use chrono::{DateTime, Utc};
use concord_models::match_results::{MatchResult, ResolvedBy, ReviewStatus};
use concord_models::matching_configs::{Assignment, MatchingConfig, Scoring};
use concord_models::matching_runs::{ConfigSnapshot, MatchingMode, MatchingRun, MatchingRunStatus};
use serde::Serialize;
use serde_json::json;

/// A matching config at its latest version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MatchingConfigView {
    pub id: String,
    pub name: String,
    pub reference_data_id: String,
    #[schema(value_type = Vec<crate::openapi::schemas::FieldMappingSchema>)]
    pub field_mappings: Vec<concord_scoring::matcher::FieldMapping>,
    /// Results at or above it are matched (default 0.85).
    pub threshold: f64,
    pub review_band: ReviewBandView,
    /// Two candidates closer than this are ambiguous (default 0.02).
    pub ambiguity_margin: f64,
    #[schema(value_type = crate::openapi::schemas::ScoringSchema)]
    pub scoring: Scoring,
    #[schema(value_type = crate::openapi::schemas::AssignmentSchema)]
    pub assignment: Assignment,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub links: serde_json::Value,
}

/// Results with a confidence in `[lower, upper)` go to review.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewBandView {
    pub lower: f64,
    pub upper: f64,
}

impl From<MatchingConfig> for MatchingConfigView {
    fn from(config: MatchingConfig) -> Self {
        let id = config.id.to_string();
        Self {
            links: json!({
                "self": format!("/v1/matching/configs/{id}"),
                "run": format!("/v1/matching/configs/{id}/run"),
                "smart_run": format!("/v1/matching/configs/{id}/smart-run"),
                "runs": format!("/v1/matching/runs?config_id={id}"),
                "model": format!("/v1/matching/configs/{id}/model"),
                "train": format!("/v1/matching/configs/{id}/train"),
                "reference_data": format!("/v1/reference-data/{}", config.reference_data_id),
            }),
            id,
            name: config.name,
            reference_data_id: config.reference_data_id.to_string(),
            field_mappings: config.field_mappings.0,
            threshold: config.threshold,
            review_band: ReviewBandView {
                lower: config.review_floor,
                upper: config.threshold,
            },
            ambiguity_margin: config.ambiguity_margin,
            scoring: config.scoring,
            assignment: config.assignment,
            version: config.version,
            created_at: config.created_at,
            updated_at: config.updated_at,
        }
    }
}

/// A matching run: its counters and, once completed, its most confident results.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MatchingRunView {
    pub id: String,
    pub config_id: Option<String>,
    pub job_id: String,
    pub reference_data_id: Option<String>,
    #[schema(value_type = crate::openapi::schemas::MatchingModeSchema)]
    pub mode: MatchingMode,
    #[schema(value_type = crate::openapi::schemas::MatchingRunStatusSchema)]
    pub status: MatchingRunStatus,
    pub rows_total: i32,
    pub rows_processed: i32,
    pub rows_matched: i32,
    pub avg_confidence: Option<f64>,
    /// The AI pass (smart runs, or `/ai-resolve` of a completed run).
    pub ai: AiCountersView,
    pub error: Option<String>,
    #[schema(value_type = crate::openapi::schemas::ConfigSnapshotSchema)]
    pub config: ConfigSnapshot,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Once completed: the 50 most confident results.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub top_results: Option<Vec<MatchResultView>>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub links: serde_json::Value,
}

/// What the AI pass did so far: results shown to the model, its choices applied, results
/// flagged (its choice not applied), model calls.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AiCountersView {
    pub items: i32,
    pub accepted: i32,
    pub flagged: i32,
    pub calls: i32,
}

impl MatchingRunView {
    pub fn new(run: MatchingRun, top_results: Option<Vec<MatchResultView>>) -> Self {
        let id = run.id.to_string();
        // A smart run reaches the AI pass without having completed: its average so far.
        let avg_confidence = run.avg_confidence.or_else(|| {
            (run.status == MatchingRunStatus::AiResolving && run.rows_processed > 0)
                .then(|| run.confidence_sum / f64::from(run.rows_processed))
        });
        Self {
            links: json!({
                "self": format!("/v1/matching/runs/{id}"),
                "progress": format!("/v1/matching/runs/{id}/progress"),
                "ai_resolve": format!("/v1/matching/runs/{id}/ai-resolve"),
                "results": format!("/v1/matching/runs/{id}/results"),
                "export": format!("/v1/matching/runs/{id}/results/export"),
                "job": format!("/v1/jobs/{}", run.job_run_id),
            }),
            id,
            config_id: run.config_id.map(|id| id.to_string()),
            job_id: run.job_run_id.to_string(),
            reference_data_id: run.reference_data_id.map(|id| id.to_string()),
            mode: run.mode,
            status: run.status,
            rows_total: run.rows_total,
            rows_processed: run.rows_processed,
            rows_matched: run.rows_matched,
            avg_confidence,
            ai: AiCountersView {
                items: run.ai_items,
                accepted: run.ai_accepted,
                flagged: run.ai_flagged,
                calls: run.ai_calls,
            },
            error: run.error,
            config: run.config_snapshot.0,
            created_at: run.created_at,
            updated_at: run.updated_at,
            started_at: run.started_at,
            completed_at: run.completed_at,
            top_results,
        }
    }
}

/// Whether the run scores with a trained model.
/// Milliseconds as seconds, for the progress view's elapsed time (and the rate and estimate
/// derived from it). Exact below 2^53 ms (about 285,000 years); beyond, the nearest `f64`.
#[allow(clippy::cast_precision_loss)] // exact for any duration a run can take (see above)
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn probabilistic(run: &MatchingRun) -> bool {
    run.config_snapshot.0.scoring == Scoring::Probabilistic
}

/// A light view for polling.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunProgressView {
    pub run_id: String,
    #[schema(value_type = crate::openapi::schemas::MatchingRunStatusSchema)]
    pub status: MatchingRunStatus,
    /// `queued`, `training` (a probabilistic run's config has no model yet: the run trains it
    /// first), `matching`, `ai_resolving`, or the status once the run has ended.
    #[schema(value_type = String, example = "matching")]
    pub phase: &'static str,
    pub processed: i32,
    pub total: i32,
    pub percent: f64,
    pub chunks_done: i32,
    pub chunks_total: i32,
    /// Documents per second since the run started.
    pub rate_per_second: Option<f64>,
    pub eta_seconds: Option<f64>,
    pub elapsed_seconds: Option<f64>,
}

impl RunProgressView {
    pub fn new(run: &MatchingRun, now: DateTime<Utc>) -> Self {
        let phase = match run.status {
            MatchingRunStatus::Queued => "queued",
            MatchingRunStatus::Running if run.model.is_none() && probabilistic(run) => "training",
            MatchingRunStatus::Running => "matching",
            MatchingRunStatus::AiResolving => "ai_resolving",
            MatchingRunStatus::Completed => "completed",
            MatchingRunStatus::Failed => "failed",
            MatchingRunStatus::Cancelled => "cancelled",
        };
        let end = run.completed_at.unwrap_or(now);
        let elapsed = run
            .started_at
            .map(|started| seconds((end - started).num_milliseconds().max(0)));
        let rate = elapsed
            .filter(|secs| *secs > 0.0 && run.rows_processed > 0)
            .map(|secs| f64::from(run.rows_processed) / secs);
        let remaining = f64::from((run.rows_total - run.rows_processed).max(0));
        let eta = match run.status {
            MatchingRunStatus::Running => rate.map(|rate| remaining / rate),
            status if status.has_ended() => Some(0.0),
            _ => None,
        };
        let percent = if run.rows_total > 0 {
            100.0 * f64::from(run.rows_processed) / f64::from(run.rows_total)
        } else if run.status.has_ended() {
            100.0
        } else {
            0.0
        };
        Self {
            run_id: run.id.to_string(),
            status: run.status,
            phase,
            processed: run.rows_processed,
            total: run.rows_total,
            percent,
            chunks_done: run.chunks_done,
            chunks_total: run.chunks_total,
            rate_per_second: rate,
            eta_seconds: eta,
            elapsed_seconds: elapsed,
        }
    }
}

/// One document's result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "01938f62-0000-7000-8000-000000000001", "run_id": "01938f61-aaaa-7bbb-8ccc-0123456789ab", "document_id": "inv-001", "document_filename": "inv-001.pdf", "matched_reference_row_id": "L-1", "confidence": 0.993, "status": "unreviewed", "ambiguous": false, "resolved_by": "rules", "match_weight": 14.2, "evidence": [{"source": "invoice_number", "target": "invoice_id", "strategy": "fuzzy", "score": 1.0, "level": "exact", "match_weight": 9.1, "document_value": "INV 1001", "reference_value": "INV-1001"}], "candidates": [{"reference_row_id": "L-1", "confidence": 0.993, "match_weight": 14.2, "candidate_weight": 14.2}], "review": null, "ai": null}))]
pub struct MatchResultView {
    pub id: String,
    pub run_id: String,
    pub document_id: String,
    pub document_filename: String,
    pub matched_reference_row_id: Option<String>,
    pub confidence: f64,
    #[schema(value_type = crate::openapi::schemas::ReviewStatusSchema)]
    pub status: ReviewStatus,
    pub ambiguous: bool,
    #[schema(value_type = crate::openapi::schemas::ResolvedBySchema)]
    pub resolved_by: ResolvedBy,
    /// The best candidate's match weight in bits (probabilistic runs).
    pub match_weight: Option<f64>,
    #[schema(value_type = Vec<crate::openapi::schemas::FieldEvidenceSchema>)]
    pub evidence: Vec<concord_models::match_results::FieldEvidence>,
    #[schema(value_type = Vec<crate::openapi::schemas::MatchCandidateSchema>)]
    pub candidates: Vec<concord_models::match_results::MatchCandidate>,
    pub review: Option<ReviewView>,
    /// What the AI pass decided, once it looked at the result (null otherwise).
    pub ai: Option<AiDecisionView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AiDecisionView {
    pub model: Option<String>,
    pub rationale: Option<String>,
    pub confidence: Option<f64>,
    /// The row the model chose (null: none of the candidates).
    pub suggested_reference_row_id: Option<String>,
    /// Why the choice was not applied (null when it was: `resolved_by` is then `ai`).
    pub flag: Option<String>,
    pub decided_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    pub notes: Option<String>,
    pub reviewed_at: DateTime<Utc>,
}

impl From<MatchResult> for MatchResultView {
    fn from(result: MatchResult) -> Self {
        Self {
            id: result.id.to_string(),
            run_id: result.run_id.to_string(),
            document_id: result.document_id,
            document_filename: result.document_filename,
            matched_reference_row_id: result.matched_reference_row_id,
            confidence: result.confidence,
            status: result.status,
            ambiguous: result.ambiguous,
            resolved_by: result.resolved_by,
            match_weight: result.match_weight,
            evidence: result.evidence.0,
            candidates: result.candidates.0,
            review: result.reviewed_at.map(|reviewed_at| ReviewView {
                notes: result.review_notes,
                reviewed_at,
            }),
            ai: result.ai_decided_at.map(|decided_at| AiDecisionView {
                model: result.ai_model,
                rationale: result.ai_rationale,
                confidence: result.ai_confidence,
                suggested_reference_row_id: result.ai_suggested_row_id,
                flag: result.ai_flag,
                decided_at,
            }),
        }
    }
}
