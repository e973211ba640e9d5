//! A real-time match: one document matched against a config's reference data now, with the same
//! decision, confidence, evidence and candidates a run would give it (the same core over the same
//! index), and no run created. The gateway asks over RabbitMQ (`concord_queue::rpc`); a
//! matching worker, which keeps the index warm, answers. These are the two messages.
//!
//! A run can differ from a real-time match in one way only: a one-to-one config assigns rows
//! across all of a run's documents after scoring, which a single document has no others for.

use std::collections::BTreeMap;

use concord_models::ids::{MatchingConfigId, OrganizationId};
use concord_models::match_results::{FieldEvidence, MatchCandidate};
use serde::{Deserialize, Serialize};

/// The request queue's name under a topology's namespace.
pub fn request_queue(namespace: &str) -> String {
    format!("{namespace}.matching.realtime")
}

/// Match one document's values with a config of an organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeMatchRequest {
    pub organization_id: OrganizationId,
    pub config_id: MatchingConfigId,
    /// The document's values by field name (missing values left out).
    pub values: BTreeMap<String, String>,
}

/// What a matching worker answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RealtimeMatchReply {
    /// The document, scored.
    Scored(RealtimeMatch),
    /// The config's index is not built on this worker yet; it is being built now.
    Warming { retry_after_ms: u64 },
    /// The config cannot be matched with (see [`Refusal`]).
    Refused { refusal: Refusal, message: String },
}

/// Why a worker refused a real-time match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No such config in the organisation.
    ConfigNotFound,
    /// The config scores probabilistically and its current version has no trained model.
    ModelNotTrained,
    /// The config's reference dataset was deleted.
    ReferenceDataDeleted,
    /// The request, or the stored config against its dataset, cannot be read (a failure of
    /// ours).
    Invalid,
    /// The worker could not read what it needs now (the database, say); worth asking again.
    Unavailable,
}

/// The decision a run would take, as a real-time match answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RealtimeDecision {
    /// Above the threshold and clear of the runner-up.
    Matched,
    /// In the review band, or ambiguous: a run would mark it `needs_review`.
    Review,
    /// Below the review band.
    Unmatched,
}

/// One document's match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealtimeMatch {
    /// The config version it was matched with.
    pub config_version: i32,
    pub decision: RealtimeDecision,
    pub matched_reference_row_id: Option<String>,
    pub confidence: f64,
    pub ambiguous: bool,
    /// The best candidate's match weight in bits (probabilistic configs).
    pub match_weight: Option<f64>,
    /// Field by field, against the best candidate.
    pub evidence: Vec<FieldEvidence>,
    /// The best candidates, best first.
    pub candidates: Vec<MatchCandidate>,
    /// How many reference rows were compared.
    pub candidates_considered: usize,
}
