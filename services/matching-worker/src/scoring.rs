//! Turning a chunk of documents into match results with the scoring core (CPU only; run it on a
//! blocking thread).

use std::cell::RefCell;

use concord_models::documents::Document;
use concord_models::ids::{MatchResultId, MatchingRunId};
use concord_models::match_results::{
    FieldEvidence, MatchCandidate, NewMatchResult, ResolvedBy, ReviewStatus,
};
use concord_scoring::index::RowIdx;
use concord_scoring::matcher::{
    Decision, MatchScratch, MatchSpec, ReferenceIndex, ScoredCandidate,
};

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
pub(crate) fn field_value<'a>(
    values: &'a serde_json::Value,
    field: &str,
) -> Option<std::borrow::Cow<'a, str>> {
    match values.get(field)? {
        serde_json::Value::String(text) => present(text).map(std::borrow::Cow::Borrowed),
        serde_json::Value::Number(number) => Some(std::borrow::Cow::Owned(number.to_string())),
        serde_json::Value::Bool(flag) => Some(std::borrow::Cow::Owned(flag.to_string())),
        _ => None,
    }
}

/// A text value as the core sees it: blank is missing.
pub(crate) fn present(text: &str) -> Option<&str> {
    (!text.trim().is_empty()).then_some(text)
}

/// A document's values aligned with the spec's fields (by source).
pub(crate) fn document_values<'a>(
    spec: &MatchSpec,
    document: &'a Document,
) -> Vec<Option<std::borrow::Cow<'a, str>>> {
    spec.fields()
        .iter()
        .map(|field| field_value(&document.field_values, &field.source))
        .collect()
}

/// The stored evidence of a document against `row` from the core's per-field evidence.
pub(crate) fn field_evidence(
    spec: &MatchSpec,
    index: &ReferenceIndex,
    values: &[Option<&str>],
    row: RowIdx,
    evidence: &[concord_scoring::matcher::FieldEvidence],
) -> Vec<FieldEvidence> {
    spec.fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let e = evidence.get(i);
            FieldEvidence {
                source: field.source.clone(),
                target: field.target.clone(),
                strategy: field.strategy.name().to_owned(),
                score: e.and_then(|e| e.score),
                level: e
                    .and_then(|e| e.level)
                    .and_then(|l| field.levels.levels().get(l))
                    .map(|l| l.name.clone()),
                match_weight: e.and_then(|e| e.bits),
                document_value: values.get(i).copied().flatten().map(str::to_owned),
                reference_value: index.reference_value(row, i).map(str::to_owned),
            }
        })
        .collect()
}

/// The stored form of a scored candidate.
pub(crate) fn candidate(index: &ReferenceIndex, c: &ScoredCandidate) -> MatchCandidate {
    MatchCandidate {
        reference_row_id: index.row_id(c.row).to_owned(),
        confidence: c.confidence,
        match_weight: c.match_weight,
        candidate_weight: c.candidate_weight,
    }
}

thread_local! {
    /// One scratch per thread that scores chunks, kept from chunk to chunk: its buffers grow to
    /// the reference data's size (accumulators, similarity memos), so they are allocated once
    /// per thread, not once per chunk (the scratch adapts to whichever index it is used with).
    static SCRATCH: RefCell<MatchScratch> = RefCell::new(MatchScratch::default());
}

/// Scores a chunk's documents against the index (on the calling thread's kept scratch).
pub fn score_documents(
    run_id: MatchingRunId,
    spec: &MatchSpec,
    index: &ReferenceIndex,
    documents: Vec<Document>,
) -> ScoredChunk {
    SCRATCH.with_borrow_mut(|scratch| score_with(run_id, spec, index, documents, scratch))
}

fn score_with(
    run_id: MatchingRunId,
    spec: &MatchSpec,
    index: &ReferenceIndex,
    documents: Vec<Document>,
    scratch: &mut MatchScratch,
) -> ScoredChunk {
    let mut tally = Tally::default();
    let mut results = Vec::with_capacity(documents.len());
    for document in documents {
        let owned = document_values(spec, &document);
        let values: Vec<Option<&str>> = owned.iter().map(|v| v.as_deref()).collect();
        let scored = score_document(spec, index, &values, scratch);
        tally.processed += 1;
        if scored.matched.is_some() {
            tally.matched += 1;
        }
        tally.confidence_sum += scored.confidence;
        results.push(NewMatchResult {
            id: MatchResultId::generate(),
            run_id,
            document_position: document.position,
            document_id: document.document_id,
            document_filename: document.filename,
            matched_reference_row_id: scored.matched,
            confidence: scored.confidence,
            status: review_status(scored.decision),
            ambiguous: scored.ambiguous,
            resolved_by: ResolvedBy::Rules,
            evidence: scored.evidence,
            candidates: scored.candidates,
            match_weight: scored.match_weight,
            candidates_considered: i32::try_from(scored.candidates_considered).unwrap_or(i32::MAX),
        });
    }
    ScoredChunk { results, tally }
}

/// One document scored: what a result keeps of it (a run's, or a real-time match's).
pub(crate) struct DocumentScore {
    pub matched: Option<String>,
    pub confidence: f64,
    pub decision: Decision,
    pub ambiguous: bool,
    pub match_weight: Option<f64>,
    pub evidence: Vec<FieldEvidence>,
    pub candidates: Vec<MatchCandidate>,
    /// Reference rows compared (at most the index's size).
    pub candidates_considered: usize,
}

/// Scores one document's values (aligned with the spec's fields) against the index.
pub(crate) fn score_document(
    spec: &MatchSpec,
    index: &ReferenceIndex,
    values: &[Option<&str>],
    scratch: &mut MatchScratch,
) -> DocumentScore {
    let outcome = index.match_document(spec, values, scratch);
    let evidence = match outcome.candidates.first() {
        Some(best) => field_evidence(spec, index, values, best.row, &outcome.evidence),
        None => Vec::new(),
    };
    DocumentScore {
        matched: outcome.matched.map(|row| index.row_id(row).to_owned()),
        confidence: outcome.confidence,
        decision: outcome.decision,
        ambiguous: outcome.ambiguous,
        match_weight: outcome.match_weight,
        evidence,
        candidates: outcome
            .candidates
            .iter()
            .map(|c| candidate(index, c))
            .collect(),
        candidates_considered: outcome.candidates_considered,
    }
}

/// Scores one document on the calling thread's kept scratch.
pub(crate) fn score_one(
    spec: &MatchSpec,
    index: &ReferenceIndex,
    values: &[Option<&str>],
) -> DocumentScore {
    SCRATCH.with_borrow_mut(|scratch| score_document(spec, index, values, scratch))
}

/// The review status a decision starts with: review-band results need a reviewer.
pub(crate) fn review_status(decision: Decision) -> ReviewStatus {
    match decision {
        Decision::Review => ReviewStatus::NeedsReview,
        Decision::Matched | Decision::Unmatched => ReviewStatus::Unreviewed,
    }
}
