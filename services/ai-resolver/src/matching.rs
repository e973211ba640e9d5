//! The AI pass of a matching run (a smart run after its deterministic scoring, or
//! `/ai-resolve` on a finished run): each document in the review band, ambiguous, or unmatched
//! with candidates is shown to the model — its mapped values and its candidates' values for the
//! same fields, by row id — and the model chooses one of those rows or none.
//!
//! Trust is earned: a choice is applied (`resolved_by: ai`) only when
//! - the model chose the same row twice, asked once with the candidates in the scorer's order and
//!   once in reverse (a choice that follows position is not a choice),
//! - with at least [`MIN_MATCH_CONFIDENCE`] both times, and
//! - the row's own field evidence agrees: its deterministic confidence is at least the run's
//!   review floor (the model breaks ties among plausible rows; it does not overrule the
//!   evidence).
//!
//! Everything else stays as the scorer left it, with the model's choice kept as a suggestion
//! for the reviewer and a flag saying why it was not applied. "None of them" never clears a
//! match. A reviewer's decision is never overwritten.
//!
//! Decisions are stored batch by batch, each in its own transaction: a worker that dies mid-pass
//! loses nothing, and the redelivered task asks only about results not yet decided.

use std::collections::HashMap;

use concord_llm::{Candidate, ChoiceItem, ItemOutcome, LlmClient, Session, TaskKind};
use concord_models::database::connection;
use concord_models::documents::Document;
use concord_models::ids::{MatchResultId, MatchingRunId};
use concord_models::match_results::{AiDecision, MatchResult};
use concord_models::matching_runs::{ConfigSnapshot, MatchingRun, MatchingRunStatus};
use concord_models::reference_datasets::{ReferenceDataset, ReferenceRow};
use concord_models::resolution_runs::AiTally;
use concord_models::DbPool;
use concord_models::StoreError;
use concord_runs::engine::RunRow;
use concord_service::JobError;
use diesel_async::AsyncConnection;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

/// The least confidence both answers need for a choice to be applied.
pub const MIN_MATCH_CONFIDENCE: f64 = 0.7;
/// Results whose decisions are stored together.
const RESULTS_PER_BATCH: usize = 10;

pub struct MatchingPass<'a> {
    pub pool: &'a DbPool,
    pub llm: &'a LlmClient,
    pub outbox_waker: &'a tokio::sync::Notify,
    /// The worker is stopping: the pass abandons the batch it is on (see [`crate::unless_stopping`]).
    pub shutdown: &'a CancellationToken,
}

/// One field mapping as the snapshot holds it.
struct Mapping {
    source: String,
    target: String,
}

impl MatchingPass<'_> {
    pub async fn run(&self, run_id: MatchingRunId, item_ids: &[String]) -> Result<(), JobError> {
        let mut conn = connection(self.pool).await?;
        let Some(run) = MatchingRun::find_by_id(&mut conn, run_id).await? else {
            return Err(JobError::Permanent(format!(
                "matching run {run_id} does not exist"
            )));
        };
        if run.status != MatchingRunStatus::AiResolving {
            tracing::info!(%run_id, status = %run.status, "run is not ai_resolving; AI task skipped");
            return Ok(());
        }
        let snapshot = &run.config_snapshot.0;
        let mappings: Vec<Mapping> = snapshot
            .field_mappings
            .iter()
            .map(|m| Mapping {
                source: m.source.clone(),
                target: m.target.clone(),
            })
            .collect();
        let ids: Option<Vec<MatchResultId>> = if item_ids.is_empty() {
            None
        } else {
            Some(item_ids.iter().filter_map(|id| id.parse().ok()).collect())
        };
        let results = MatchResult::for_ai_pass(&mut conn, run_id, ids.as_deref()).await?;
        let dataset = ReferenceDataset::find_by_id(&mut conn, snapshot.reference_data_id).await?;
        let columns: Vec<String> = dataset
            .map(|d| d.columns().iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        drop(conn);

        let session = self.llm.session(TaskKind::Matching);
        for batch in results.chunks(RESULTS_PER_BATCH) {
            let mut conn = connection(self.pool).await?;
            let still = MatchingRun::find_by_id(&mut conn, run_id).await?;
            if still.is_none_or(|r| r.status != MatchingRunStatus::AiResolving) {
                tracing::info!(%run_id, "run left ai_resolving (cancelled?); AI pass stopped");
                return Ok(());
            }
            let items = self
                .items(&mut conn, &run, snapshot, &mappings, &columns, batch)
                .await?;
            drop(conn);
            let calls_before = session.calls_made();
            let (forward, backward) =
                crate::unless_stopping(self.shutdown, ask_twice(&session, &items)).await?;
            let calls = session.calls_made().saturating_sub(calls_before);
            let mut tally = AiTally {
                items: i32::try_from(items.len()).map_err(StoreError::from)?,
                calls: i32::try_from(calls).map_err(StoreError::from)?,
                ..AiTally::default()
            };
            let decisions: Vec<(MatchResultId, AiDecision)> = batch
                .iter()
                .zip(forward.iter().zip(&backward))
                .map(|(result, (first, second))| {
                    (
                        result.id,
                        decide(result, first, second, snapshot.review_floor),
                    )
                })
                .collect();
            let mut conn = connection(self.pool).await?;
            conn.transaction::<_, JobError, _>(async |conn| {
                for (id, decision) in &decisions {
                    if MatchResult::record_ai_decision(conn, *id, decision).await? {
                        if decision.apply {
                            tally.accepted += 1;
                        } else {
                            tally.flagged += 1;
                        }
                    }
                }
                MatchingRun::record_ai_batch(conn, run_id, tally).await?;
                Ok(())
            })
            .await?;
            tracing::info!(%run_id, items = tally.items, accepted = tally.accepted,
                flagged = tally.flagged, calls = tally.calls, "AI batch stored");
        }

        let mut conn = connection(self.pool).await?;
        conn.transaction::<_, JobError, _>(async |conn| {
            if let Some(completed) = <MatchingRun as RunRow>::complete_ai_pass(conn, run_id).await?
            {
                tracing::info!(%run_id, matched = completed.rows_matched,
                    accepted = completed.ai_accepted, "matching run completed after its AI pass");
            }
            Ok(())
        })
        .await?;
        self.outbox_waker.notify_one();
        Ok(())
    }

    /// What the model is shown about each result: the document's mapped values, and each
    /// candidate row's values for the same fields.
    async fn items(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        run: &MatchingRun,
        snapshot: &ConfigSnapshot,
        mappings: &[Mapping],
        columns: &[String],
        batch: &[MatchResult],
    ) -> Result<Vec<ChoiceItem>, JobError> {
        let positions: Vec<i32> = batch.iter().map(|r| r.document_position).collect();
        let documents = load_documents(conn, run, &positions).await?;
        let row_ids: Vec<String> = batch
            .iter()
            .flat_map(candidate_ids)
            .map(str::to_owned)
            .collect();
        let rows: HashMap<String, Vec<Option<String>>> =
            ReferenceRow::find_by_row_ids(conn, snapshot.reference_data_id, &row_ids)
                .await?
                .into_iter()
                .collect();
        let target_index: Vec<Option<usize>> = mappings
            .iter()
            .map(|m| columns.iter().position(|c| *c == m.target))
            .collect();
        Ok(batch
            .iter()
            .map(|result| {
                let values = documents
                    .get(&result.document_position)
                    .and_then(|d| d.field_values.as_object());
                let mut data = Map::new();
                for mapping in mappings {
                    let value = values
                        .and_then(|v| v.get(&mapping.source))
                        .cloned()
                        .unwrap_or(Value::Null);
                    data.insert(mapping.source.clone(), value);
                }
                let candidates = candidate_ids(result)
                    .map(|row_id| {
                        let cells = rows.get(row_id);
                        let mut row = Map::new();
                        for (mapping, index) in mappings.iter().zip(&target_index) {
                            let value = index
                                .and_then(|i| cells.and_then(|c| c.get(i).cloned()))
                                .flatten();
                            row.insert(mapping.source.clone(), json!(value));
                        }
                        Candidate {
                            id: row_id.to_owned(),
                            data: Value::Object(row),
                        }
                    })
                    .collect();
                ChoiceItem {
                    item_id: result.id.to_string(),
                    data: Value::Object(data),
                    candidates,
                }
            })
            .collect())
    }
}

fn candidate_ids(result: &MatchResult) -> impl Iterator<Item = &str> {
    result
        .candidates
        .0
        .iter()
        .map(|c| c.reference_row_id.as_str())
}

/// The deterministic confidence of a candidate row of the result.
fn candidate_confidence(result: &MatchResult, row_id: &str) -> Option<f64> {
    result
        .candidates
        .0
        .iter()
        .find(|c| c.reference_row_id == row_id)
        .map(|c| c.confidence)
}

/// The items asked with the candidates in order, then reversed.
async fn ask_twice(
    session: &Session,
    items: &[ChoiceItem],
) -> (Vec<ItemOutcome>, Vec<ItemOutcome>) {
    let reversed: Vec<ChoiceItem> = items
        .iter()
        .map(|item| {
            let mut item = item.clone();
            item.candidates.reverse();
            item
        })
        .collect();
    let forward = session.choose(items).await;
    let backward = session.choose(&reversed).await;
    (forward, backward)
}

/// Whether to apply the model's choice (see the module documentation).
fn decide(
    result: &MatchResult,
    first: &ItemOutcome,
    second: &ItemOutcome,
    review_floor: f64,
) -> AiDecision {
    let (a, b) = match (first, second) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(kind), _) | (_, Err(kind)) => {
            let answered = first.as_ref().ok().or(second.as_ref().ok());
            return AiDecision {
                model: answered.map(|a| a.model.clone()),
                rationale: answered.map(|a| a.rationale.clone()),
                confidence: answered.map(|a| a.confidence),
                chosen: answered.and_then(|a| a.chosen.clone()),
                flag: Some(kind.as_str().to_owned()),
                ..AiDecision::default()
            };
        }
    };
    let confidence = a.confidence.min(b.confidence);
    let mut decision = AiDecision {
        model: Some(a.model.clone()),
        rationale: Some(a.rationale.clone()),
        confidence: Some(confidence),
        chosen: a.chosen.clone(),
        ..AiDecision::default()
    };
    let flag = if a.chosen != b.chosen {
        Some("disagreed")
    } else if a.chosen.is_none() {
        Some("no_choice")
    } else if confidence < MIN_MATCH_CONFIDENCE {
        Some("low_confidence")
    } else {
        match a
            .chosen
            .as_deref()
            .and_then(|row| candidate_confidence(result, row))
        {
            Some(evidence) if evidence >= review_floor => {
                decision.apply = true;
                decision.match_confidence = evidence;
                None
            }
            _ => Some("evidence_disagrees"),
        }
    };
    decision.flag = flag.map(str::to_owned);
    decision
}

async fn load_documents(
    conn: &mut diesel_async::AsyncPgConnection,
    run: &MatchingRun,
    positions: &[i32],
) -> Result<HashMap<i32, Document>, JobError> {
    let (Some(first), Some(last)) = (positions.iter().min(), positions.iter().max()) else {
        return Ok(HashMap::new());
    };
    let documents = Document::list(
        conn,
        run.job_run_id,
        Some(first - 1),
        i64::from(last - first + 1),
    )
    .await?;
    Ok(documents
        .into_iter()
        .filter(|d| positions.contains(&d.position))
        .map(|d| (d.position, d))
        .collect())
}
