//! Turning a chunk of documents into match results with the scoring core (CPU only; run it on a
//! blocking thread).

use concord_models::documents::Document;
use concord_models::ids::{MatchResultId, MatchingRunId};
use concord_models::match_results::{NewMatchResult, ResolvedBy, ReviewStatus};
use concord_scoring::matcher::{Decision, MatchScratch, MatchSpec, ReferenceIndex};
use serde_json::json;

pub struct ScoredChunk {
    pub results: Vec<NewMatchResult>,
    pub tally: Tally,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub processed: i32,
    pub matched: i32,
    pub confidence_sum: f64,
}

/// A document's raw value of a field: strings as they are; numbers and booleans in their JSON
/// form; empty strings and nulls as missing.
fn field_value<'a>(
    values: &'a serde_json::Value,
    field: &str,
) -> Option<std::borrow::Cow<'a, str>> {
    match values.get(field)? {
        serde_json::Value::String(text) if !text.trim().is_empty() => {
            Some(std::borrow::Cow::Borrowed(text.as_str()))
        }
        serde_json::Value::Number(number) => Some(std::borrow::Cow::Owned(number.to_string())),
        serde_json::Value::Bool(flag) => Some(std::borrow::Cow::Owned(flag.to_string())),
        _ => None,
    }
}

pub fn score_documents(
    run_id: MatchingRunId,
    spec: &MatchSpec,
    index: &ReferenceIndex,
    documents: Vec<Document>,
) -> ScoredChunk {
    let mut scratch = MatchScratch::default();
    let mut tally = Tally::default();
    let mut results = Vec::with_capacity(documents.len());
    let fields = spec.fields();
    for document in documents {
        let owned: Vec<Option<std::borrow::Cow<'_, str>>> = fields
            .iter()
            .map(|field| field_value(&document.field_values, &field.source))
            .collect();
        let values: Vec<Option<&str>> = owned.iter().map(|v| v.as_deref()).collect();
        let outcome = index.match_document(spec, &values, &mut scratch);
        let evidence: Vec<serde_json::Value> = match outcome.candidates.first() {
            Some(best) => fields
                .iter()
                .enumerate()
                .map(|(i, field)| {
                    json!({
                        "source": field.source,
                        "target": field.target,
                        "strategy": field.strategy.name(),
                        "score": outcome.evidence.get(i).and_then(|e| e.score),
                        "document_value": values[i],
                        "reference_value": index.reference_value(best.row, i),
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        let candidates: Vec<serde_json::Value> = outcome
            .candidates
            .iter()
            .map(|candidate| {
                json!({
                    "reference_row_id": index.row_id(candidate.row),
                    "confidence": candidate.confidence,
                })
            })
            .collect();
        let matched = outcome.matched.map(|row| index.row_id(row).to_owned());
        tally.processed += 1;
        if matched.is_some() {
            tally.matched += 1;
        }
        tally.confidence_sum += outcome.confidence;
        results.push(NewMatchResult {
            id: MatchResultId::generate(),
            run_id,
            document_position: document.position,
            document_id: document.document_id,
            document_filename: document.filename,
            matched_reference_row_id: matched,
            confidence: outcome.confidence,
            status: match outcome.decision {
                Decision::Review => ReviewStatus::NeedsReview,
                Decision::Matched | Decision::Unmatched => ReviewStatus::Unreviewed,
            },
            ambiguous: outcome.ambiguous,
            resolved_by: ResolvedBy::Rules,
            evidence: serde_json::Value::Array(evidence),
            candidates: serde_json::Value::Array(candidates),
        });
    }
    ScoredChunk { results, tally }
}
