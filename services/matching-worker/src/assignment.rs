//! The one-to-one step of a run: once its last chunk is in, every result's candidates go to the
//! scoring core's assignment (`concord_scoring::matcher::assign`), which gives each reference row
//! to at most one document across the whole run, however many workers matched its chunks; the
//! results it changes are written back and the run recounted, in the last chunk's transaction.

use std::collections::HashMap;
use std::sync::Arc;

use concord_models::documents::Document;
use concord_models::match_results::{AssignmentUpdate, MatchCandidate, MatchResult};
use concord_models::matching_runs::MatchingRun;
use concord_scoring::matcher::assign::{one_to_one, DocumentCandidates, RankedRow};
use concord_scoring::matcher::{MatchScratch, MatchSpec, ReferenceIndex, ScoringMode};
use concord_service::JobError;
use diesel_async::AsyncPgConnection;

use crate::scoring::{document_values, field_evidence, review_status};

/// Assigns the run's rows one-to-one and returns the run recounted.
pub(crate) async fn assign_run(
    conn: &mut AsyncPgConnection,
    run: &MatchingRun,
    spec: &Arc<MatchSpec>,
    index: &Arc<ReferenceIndex>,
) -> Result<MatchingRun, JobError> {
    let started = std::time::Instant::now();
    let inputs = MatchResult::for_assignment(conn, run.id).await?;
    // Row ids as small integers for the core.
    let mut row_ids: Vec<String> = Vec::new();
    let mut row_of: HashMap<String, u32> = HashMap::new();
    let probabilistic = spec.settings().scoring == ScoringMode::Probabilistic;
    let mut documents = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let mut rows = Vec::with_capacity(input.candidates.0.len());
        for c in &input.candidates.0 {
            let row = match row_of.get(&c.reference_row_id) {
                Some(&row) => row,
                None => {
                    let row = u32::try_from(row_ids.len()).map_err(crate::permanent)?;
                    row_of.insert(c.reference_row_id.clone(), row);
                    row_ids.push(c.reference_row_id.clone());
                    row
                }
            };
            let (value, candidate_weight) =
                match (probabilistic, c.match_weight, c.candidate_weight) {
                    (true, Some(w), Some(cw)) => (w, cw),
                    (true, _, _) => {
                        return Err(JobError::Permanent(format!(
                            "result {} of run {} has candidates without match weights",
                            input.id, run.id
                        )))
                    }
                    (false, _, _) => (c.confidence, 0.0),
                };
            rows.push(RankedRow {
                row,
                value,
                candidate_weight,
            });
        }
        documents.push(DocumentCandidates {
            rows,
            considered: usize::try_from(input.candidates_considered).map_err(crate::permanent)?,
        });
    }
    let settings = spec.settings();
    let model = spec.model();
    let lambda = model.lambda;
    let assigned = tokio::task::spawn_blocking(move || one_to_one(&documents, &settings, lambda))
        .await
        .map_err(|error| JobError::Permanent(format!("the assignment panicked: {error}")))?;

    let name = |row: u32| row_ids.get(row as usize).cloned().unwrap_or_default();
    let mut updates = Vec::new();
    let mut moved_positions = Vec::new();
    for (input, outcome) in inputs.iter().zip(&assigned) {
        let matched = outcome.matched.map(name);
        let candidates: Vec<MatchCandidate> = outcome
            .candidates
            .iter()
            .map(|c| MatchCandidate {
                reference_row_id: name(c.row.0),
                confidence: c.confidence,
                match_weight: c.match_weight,
                candidate_weight: c.candidate_weight,
            })
            .collect();
        // A document whose decision the assignment left as it was keeps its result as the chunk
        // stored it (the same match, best row, status and ambiguity; its candidates still show
        // the rows other documents took): only the documents it changed are written again.
        let best_moved = candidates.first().map(|c| &c.reference_row_id)
            != input.candidates.0.first().map(|c| &c.reference_row_id);
        let decided_alike = !best_moved
            && matched == input.matched_reference_row_id
            && review_status(outcome.decision) == input.status
            && outcome.ambiguous == input.ambiguous;
        if decided_alike {
            continue;
        }
        if best_moved {
            moved_positions.push(input.document_position);
        }
        updates.push((
            input.document_position,
            AssignmentUpdate {
                id: input.id,
                matched_reference_row_id: matched,
                confidence: outcome.confidence,
                status: review_status(outcome.decision),
                ambiguous: outcome.ambiguous,
                match_weight: outcome.candidates.first().and_then(|c| c.match_weight),
                candidates,
                evidence: None,
            },
        ));
    }
    // The evidence of a document whose best row changed is that of its new best row.
    if !moved_positions.is_empty() {
        let documents = Document::at_positions(conn, run.job_run_id, &moved_positions).await?;
        let by_position: HashMap<i32, Document> =
            documents.into_iter().map(|d| (d.position, d)).collect();
        let (spec, index) = (spec.clone(), index.clone());
        updates = tokio::task::spawn_blocking(move || {
            let mut scratch = MatchScratch::default();
            let ids: Vec<String> = updates
                .iter()
                .map(|(_, u)| {
                    u.candidates
                        .first()
                        .map(|c| c.reference_row_id.clone())
                        .unwrap_or_default()
                })
                .collect();
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let rows = index.find_rows(&id_refs);
            for ((position, update), row) in updates.iter_mut().zip(rows) {
                let (Some(document), Some(row)) = (by_position.get(position), row) else {
                    continue;
                };
                let owned = document_values(&spec, document);
                let values: Vec<Option<&str>> = owned.iter().map(|v| v.as_deref()).collect();
                let evidence = index.evidence_for(&spec, &values, row, &mut scratch);
                update.evidence = Some(field_evidence(&spec, &index, &values, row, &evidence));
            }
            updates
        })
        .await
        .map_err(|error| JobError::Permanent(format!("the evidence panicked: {error}")))?;
    }
    let updates: Vec<AssignmentUpdate> = updates.into_iter().map(|(_, u)| u).collect();
    MatchResult::apply_assignment(conn, &updates).await?;
    let recounted = MatchingRun::recount(conn, run.id).await?;
    tracing::info!(
        run_id = %run.id,
        documents = inputs.len(),
        changed = updates.len(),
        matched = recounted.rows_matched,
        ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "rows assigned one-to-one"
    );
    Ok(recounted)
}
