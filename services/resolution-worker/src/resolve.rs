//! Running a compiled policy over a chunk of documents: one result per document and field, and
//! what the chunk adds to its run's counters. Pure apart from the clock the expression limit reads.

use concord_models::documents::Document;
use concord_models::ids::ResolutionRunId;
use concord_models::resolution_results::{
    NewResolutionResult, ResolutionStatus as StoredStatus, ResolutionStep as StoredStep,
};
use concord_scoring::lookup::LookupCandidate;
use concord_scoring::policy::{
    CompiledPolicy, Decided, EvalLimits, LookupTables, ResolutionStatus, ResolutionStep,
};
use serde_json::{json, Value};
use std::collections::HashMap;

/// What a chunk adds to the run's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub documents: i32,
    pub resolved: i32,
    pub unresolved: i32,
    pub waiting: i32,
}

pub struct Resolved {
    pub results: Vec<NewResolutionResult>,
    pub tally: Tally,
}

fn stored_step(step: ResolutionStep) -> StoredStep {
    match step {
        ResolutionStep::Lookup => StoredStep::Lookup,
        ResolutionStep::Direct => StoredStep::Direct,
        ResolutionStep::Parse => StoredStep::Parse,
        ResolutionStep::Compute => StoredStep::Compute,
        ResolutionStep::Format => StoredStep::Format,
        ResolutionStep::Llm => StoredStep::Llm,
    }
}

fn candidates_json(candidates: &[LookupCandidate]) -> Option<Value> {
    if candidates.is_empty() {
        return None;
    }
    Some(Value::Array(
        candidates
            .iter()
            .map(|c| json!({ "code": c.code, "label": c.label, "score": c.score }))
            .collect(),
    ))
}

/// Resolves every field of every document.
pub fn resolve_documents(
    run_id: ResolutionRunId,
    policy: &CompiledPolicy,
    tables: &impl LookupTables,
    limits: &EvalLimits,
    documents: &[Document],
) -> Resolved {
    resolve_documents_with(run_id, policy, tables, limits, documents, &HashMap::new())
}

/// [`resolve_documents`] with the LLM's decisions for fields that were waiting, by field key
/// (the same for every document given).
pub fn resolve_documents_with(
    run_id: ResolutionRunId,
    policy: &CompiledPolicy,
    tables: &impl LookupTables,
    limits: &EvalLimits,
    documents: &[Document],
    decided: &HashMap<String, Decided>,
) -> Resolved {
    let fields = policy.fields().len();
    let mut results = Vec::with_capacity(documents.len() * fields);
    let mut tally = Tally::default();
    let empty = serde_json::Map::new();
    for document in documents {
        tally.documents += 1;
        let values = document.field_values.as_object().unwrap_or(&empty);
        for (position, field) in policy
            .resolve_with(values, tables, limits, decided)
            .into_iter()
            .enumerate()
        {
            let status = match field.status {
                ResolutionStatus::Resolved => {
                    tally.resolved += 1;
                    StoredStatus::Resolved
                }
                ResolutionStatus::Unresolved => {
                    tally.unresolved += 1;
                    StoredStatus::Unresolved
                }
                ResolutionStatus::Waiting => {
                    tally.waiting += 1;
                    StoredStatus::Waiting
                }
            };
            results.push(NewResolutionResult {
                run_id,
                document_position: document.position,
                field_position: i16::try_from(position).unwrap_or(i16::MAX),
                document_id: document.document_id.clone(),
                field_key: field.field_key,
                original_value: field.original_value,
                resolved_value: field.value.map(|value| value.to_json()),
                resolution_step: field.step.map(stored_step),
                confidence: field.confidence,
                status,
                candidates: candidates_json(&field.candidates),
                reason: field.reason,
                model: None,
                rationale: None,
                ai_flag: None,
            });
        }
    }
    Resolved { results, tally }
}
