//! `POST /v1/matching/configs/{id}/match`: one document's values matched now, answered with the
//! decision, confidence, evidence and candidates a run would give it, and no run created. The
//! gateway holds no index: it asks the matching workers over RabbitMQ (request and reply,
//! `concord_queue::rpc`), which keep each config's index warm; a worker that has not built the
//! index yet answers at once that it is building it (503 `index_warming` with `Retry-After`), and
//! no worker answering in time is a 503 `matching_unavailable` — never a hanging request.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use concord_models::ids::MatchingConfigId;
use concord_models::match_results::{FieldEvidence, MatchCandidate, ReviewStatus};
use concord_queue::rpc::{RpcClient, RpcError};
use concord_runs::realtime::{
    RealtimeDecision, RealtimeMatch, RealtimeMatchReply, RealtimeMatchRequest, Refusal,
};
use serde::{Deserialize, Serialize};

use crate::auth::{Authorized, Read};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{parse_json, path_id};
use crate::jobs::domain::{valid_values, MAX_DOCUMENT_ID_CHARS};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/matching/configs/{id}/match",
        web::post().to(match_document),
    );
}

/// What a caller is told to wait when no worker answered.
const UNAVAILABLE_RETRY_SECS: u64 = 2;

/// How the gateway reaches the matching workers' real-time server.
pub struct RealtimeClient {
    rpc: RpcClient,
    queue: String,
    timeout: Duration,
}

impl RealtimeClient {
    /// A client of the namespace's request queue; a request unanswered after `timeout` is a 503.
    pub fn new(amqp_url: &str, namespace: &str, timeout: Duration) -> Self {
        Self {
            rpc: RpcClient::new(amqp_url, "gateway-realtime"),
            queue: concord_runs::realtime::request_queue(namespace),
            timeout,
        }
    }

    /// What a run would give the request's document, or the refusal as an error: 503
    /// `index_warming` (with the worker's `Retry-After`) while the index builds, 503
    /// `matching_unavailable` when no worker answers, 404 for a config the organisation does not
    /// have, 404 `model_not_trained`, 409 `reference_data_deleted`.
    pub async fn match_now(
        &self,
        request: &RealtimeMatchRequest,
    ) -> Result<RealtimeMatch, ApiError> {
        let config_id = request.config_id;
        match self.ask(request).await? {
            RealtimeMatchReply::Scored(scored) => Ok(scored),
            RealtimeMatchReply::Warming { retry_after_ms } => Err(ApiError::Unavailable {
                code: ErrorCode::IndexWarming,
                message: format!(
                    "the reference index of config `{config_id}` is being built; ask again shortly"
                ),
                retry_after_secs: retry_after_ms.div_ceil(1000).max(1),
            }),
            RealtimeMatchReply::Refused { refusal, message } => Err(match refusal {
                Refusal::ConfigNotFound => {
                    ApiError::not_found("matching config", config_id.to_string())
                }
                Refusal::ModelNotTrained => ApiError::NotYet {
                    code: ErrorCode::ModelNotTrained,
                    message,
                },
                Refusal::ReferenceDataDeleted => ApiError::Conflict {
                    code: ErrorCode::ReferenceDataDeleted,
                    message,
                },
                Refusal::Unavailable => ApiError::Unavailable {
                    code: ErrorCode::MatchingUnavailable,
                    message,
                    retry_after_secs: UNAVAILABLE_RETRY_SECS,
                },
                Refusal::Invalid => ApiError::internal_message(message),
            }),
        }
    }

    async fn ask(&self, request: &RealtimeMatchRequest) -> Result<RealtimeMatchReply, ApiError> {
        let body = serde_json::to_vec(request).map_err(ApiError::internal)?;
        let reply = self
            .rpc
            .call(&self.queue, &body, self.timeout)
            .await
            .map_err(|error| {
                let message = match &error {
                    RpcError::Timeout { .. } => {
                        format!("no matching worker answered within {:?}", self.timeout)
                    }
                    RpcError::NoServer(_) => "no matching worker is running".to_owned(),
                    RpcError::Broker(_) => "the message broker cannot be reached".to_owned(),
                };
                tracing::warn!(%error, "a real-time match went unanswered");
                ApiError::Unavailable {
                    code: ErrorCode::MatchingUnavailable,
                    message,
                    retry_after_secs: UNAVAILABLE_RETRY_SECS,
                }
            })?;
        serde_json::from_slice(&reply).map_err(|error| {
            ApiError::internal_message(format!("a matching worker's reply cannot be read: {error}"))
        })
    }
}

/// The body: the document's values by field name (null or blank for a value not found), and
/// optionally its id, echoed back.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchBody {
    /// Echoed back.
    #[serde(default)]
    document_id: Option<String>,
    /// The document's values by field name (the config's mappings' `source`s).
    #[schema(example = json!({"vendor_name": "ACME Gmbh", "invoice_number": "INV 1001", "invoice_date": "14.03.2024", "amount": "1.234,50 EUR"}))]
    values: BTreeMap<String, Option<String>>,
}

/// The answer: what a run would store for the document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"config_id": "01938f60-0000-7000-8000-000000000001", "config_version": 1, "document_id": "inv-001", "decision": "matched", "status": "unreviewed", "matched_reference_row_id": "L-1", "confidence": 0.993, "ambiguous": false, "match_weight": 14.2, "evidence": [{"source": "invoice_number", "target": "invoice_id", "strategy": "fuzzy", "score": 1.0, "level": "exact", "match_weight": 9.1, "document_value": "INV 1001", "reference_value": "INV-1001"}], "candidates": [{"reference_row_id": "L-1", "confidence": 0.993, "match_weight": 14.2, "candidate_weight": 14.2}], "candidates_considered": 12}))]
pub struct RealtimeMatchView {
    pub config_id: String,
    /// The config version it was matched with.
    pub config_version: i32,
    /// The body's `document_id`, echoed.
    pub document_id: Option<String>,
    /// `matched` (above the threshold and clear of the runner-up), `review` (in the review band,
    /// or ambiguous) or `unmatched`.
    #[schema(value_type = String, example = "matched")]
    pub decision: RealtimeDecision,
    /// The review status a run would give the result (`needs_review` for `decision: review`).
    #[schema(value_type = crate::openapi::schemas::ReviewStatusSchema)]
    pub status: &'static str,
    pub matched_reference_row_id: Option<String>,
    pub confidence: f64,
    pub ambiguous: bool,
    /// The best candidate's match weight in bits (probabilistic configs).
    pub match_weight: Option<f64>,
    /// Field by field, against the best candidate.
    #[schema(value_type = Vec<crate::openapi::schemas::FieldEvidenceSchema>)]
    pub evidence: Vec<FieldEvidence>,
    /// The best candidates, best first.
    #[schema(value_type = Vec<crate::openapi::schemas::MatchCandidateSchema>)]
    pub candidates: Vec<MatchCandidate>,
    /// How many reference rows were compared.
    pub candidates_considered: usize,
}

#[utoipa::path(
    post,
    path = "/v1/matching/configs/{id}/match",
    tag = "matching",
    operation_id = "match_document",
    summary = "Match one document now (no run)",
    description = "The decision, confidence, evidence and candidates a run would give the document, answered by a matching worker from the index it keeps warm. While a worker builds the config's index the answer is 503 `index_warming` with `Retry-After`; with no worker answering in time, 503 `matching_unavailable`.",
    security(("api_key" = ["read"])),
    params(("id" = uuid::Uuid, Path, description = "The config's id.")),
    request_body(content = MatchBody),
    responses(
        (status = 200, description = "The document's match.", body = RealtimeMatchView),
        (status = 404, description = "`model_not_trained`: the config scores probabilistically and its version has no model yet.", body = crate::openapi::errors::ErrorEnvelope),
        (status = 409, description = "`reference_data_deleted`: the config's dataset was deleted.", body = crate::openapi::errors::ErrorEnvelope),
        (status = 503, description = "`index_warming` (the index is being built) or `matching_unavailable` (no worker answered); ask again after `Retry-After`.", body = crate::openapi::errors::ErrorEnvelope, headers(("Retry-After" = u64))),
    ),
)]
pub async fn match_document(
    auth: Authorized<Read>,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config_id: MatchingConfigId = path_id(&path)?;
    let body: MatchBody = parse_json(&body)?;
    let values = valid_values("", body.values)?;
    if let Some(id) = &body.document_id {
        if id.chars().count() > MAX_DOCUMENT_ID_CHARS {
            return Err(ApiError::validation(
                "document_id",
                format!("`document_id` must be at most {MAX_DOCUMENT_ID_CHARS} characters"),
            ));
        }
    }
    let request = RealtimeMatchRequest {
        organization_id: auth.organization_id,
        config_id,
        values,
    };
    let scored = state.realtime.match_now(&request).await?;
    Ok(HttpResponse::Ok().json(view(config_id, body.document_id, scored)))
}

fn view(
    config_id: MatchingConfigId,
    document_id: Option<String>,
    scored: RealtimeMatch,
) -> RealtimeMatchView {
    let status = match scored.decision {
        RealtimeDecision::Review => ReviewStatus::NeedsReview,
        RealtimeDecision::Matched | RealtimeDecision::Unmatched => ReviewStatus::Unreviewed,
    };
    RealtimeMatchView {
        config_id: config_id.to_string(),
        config_version: scored.config_version,
        document_id,
        decision: scored.decision,
        status: status.as_str(),
        matched_reference_row_id: scored.matched_reference_row_id,
        confidence: scored.confidence,
        ambiguous: scored.ambiguous,
        match_weight: scored.match_weight,
        evidence: scored.evidence,
        candidates: scored.candidates,
        candidates_considered: scored.candidates_considered,
    }
}
