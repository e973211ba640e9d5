//! The AI pass of a resolution run: the values that a `lookup` with `fallback: "llm"` could not
//! settle (stored `waiting`, with their candidates) are shown to the model — the raw value, the
//! field, and the lookup table's best candidates (the whole table when it is small) — and the
//! model answers a code from those or none.
//!
//! Identical (field, value) pairs are asked once. An answer is used when it names one of the
//! offered codes with at least [`MIN_CONFIDENCE`]; the document is then resolved again with the
//! answer standing in for the lookup (step `llm`), so that fields reading it follow. Anything
//! else — no code, a low confidence, a timeout, a spent budget, a malformed answer — leaves the
//! value with its deterministic outcome (as with `fallback: "none"`) and a flag saying why.
//!
//! Answers are stored document batch by document batch, each in its own transaction: a worker
//! that dies mid-pass loses nothing, and the redelivered task asks only about values still
//! waiting. The last batch completes the run.

use std::collections::{BTreeMap, HashMap};

use concord_llm::{Candidate, ChoiceItem, ItemOutcome, LlmClient, TaskKind};
use concord_models::database::connection;
use concord_models::documents::Document;
use concord_models::ids::ResolutionRunId;
use concord_models::resolution_results::{
    ResolutionResult, ResolutionResultFilter, ResolutionStatus,
};
use concord_models::resolution_runs::{AiTally, ResolutionRun, ResolutionRunStatus};
use concord_models::DbPool;
use concord_models::StoreError;
use concord_runs::engine::RunRow;
use concord_runs::resolution::{self, resolve_documents_with, ChunkTables, TableCache, TableError};
use concord_scoring::policy::{Decided, EvalLimits, LookupTables, ResolvedValue};
use concord_service::JobError;
use diesel_async::AsyncConnection;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The least confidence an answer needs to be used.
pub const MIN_CONFIDENCE: f64 = 0.5;
/// A table with at most this many entries is shown whole.
const SMALL_TABLE: usize = 30;
/// Documents whose answers are stored together.
const DOCUMENTS_PER_BATCH: usize = 200;
/// Results read per page.
const PAGE: i64 = 5_000;

pub struct ResolutionPass<'a> {
    pub pool: &'a DbPool,
    pub llm: &'a LlmClient,
    pub tables: &'a TableCache,
    pub outbox_waker: &'a tokio::sync::Notify,
    /// The worker is stopping: the pass abandons the batch it is on (see [`crate::unless_stopping`]).
    pub shutdown: &'a CancellationToken,
}

/// One (field, raw value) the model is asked about.
struct Question {
    field_key: String,
    value: String,
    table: Option<String>,
}

impl ResolutionPass<'_> {
    pub async fn run(&self, run_id: ResolutionRunId) -> Result<(), JobError> {
        let mut conn = connection(self.pool).await?;
        let Some(run) = ResolutionRun::find_by_id(&mut conn, run_id).await? else {
            return Err(JobError::Permanent(format!(
                "resolution run {run_id} does not exist"
            )));
        };
        if run.status != ResolutionRunStatus::Running {
            tracing::info!(%run_id, status = %run.status, "run is not running; AI task skipped");
            return Ok(());
        }
        let snapshot = &run.policy_snapshot.0;
        let policy = match resolution::compile(snapshot) {
            Ok(compiled) => compiled,
            Err(reason) => return Err(JobError::Permanent(reason)),
        };
        let tables = match self.tables.chunk_tables(self.pool, snapshot).await {
            Ok(tables) => tables,
            Err(TableError::Missing(reason)) => return self.fail(run_id, &reason).await,
            Err(TableError::Store(error)) => return Err(error),
        };
        // Which table each field's LLM lookup uses, for the candidates shown.
        let table_of: HashMap<String, String> = policy
            .llm_lookups()
            .into_iter()
            .map(|(field, table)| (field.to_owned(), table.to_owned()))
            .collect();

        // Every waiting value, by document.
        let mut waiting: BTreeMap<i32, Vec<ResolutionResult>> = BTreeMap::new();
        let filter = ResolutionResultFilter {
            status: Some(ResolutionStatus::Waiting),
            ..ResolutionResultFilter::default()
        };
        let mut after = None;
        loop {
            let page = ResolutionResult::list(&mut conn, run_id, &filter, after, PAGE).await?;
            let full = i64::try_from(page.len()) == Ok(PAGE);
            after = page.last().map(|r| (r.document_position, r.field_position));
            for row in page {
                waiting.entry(row.document_position).or_default().push(row);
            }
            if !full {
                break;
            }
        }
        drop(conn);
        let session = self.llm.session(TaskKind::Resolution);
        let limits = EvalLimits::default();
        let positions: Vec<i32> = waiting.keys().copied().collect();
        for batch in positions.chunks(DOCUMENTS_PER_BATCH) {
            // The distinct questions of the batch, asked once each (the session also answers a
            // question it was asked before from its cache).
            let mut questions: Vec<Question> = Vec::new();
            let mut question_of: HashMap<(String, String), usize> = HashMap::new();
            for position in batch {
                for row in waiting.get(position).into_iter().flatten() {
                    if row
                        .reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with("waiting on"))
                    {
                        // Waiting on another field: settled when that one is.
                        continue;
                    }
                    let value = row.original_value.clone().unwrap_or_default();
                    let key = (row.field_key.clone(), value.clone());
                    if let std::collections::hash_map::Entry::Vacant(slot) = question_of.entry(key)
                    {
                        slot.insert(questions.len());
                        questions.push(Question {
                            field_key: row.field_key.clone(),
                            value,
                            table: table_of.get(&row.field_key).cloned(),
                        });
                    }
                }
            }
            // Questions with nothing to choose from are not asked.
            let items: Vec<ChoiceItem> = questions
                .iter()
                .enumerate()
                .map(|(i, q)| question_item(i, q, &tables, &waiting, batch))
                .collect();
            let asked: Vec<usize> = (0..items.len())
                .filter(|&i| !items[i].candidates.is_empty())
                .collect();
            let asked_items: Vec<ChoiceItem> = asked.iter().map(|&i| items[i].clone()).collect();
            let calls_before = session.calls_made();
            let answers =
                crate::unless_stopping(self.shutdown, session.choose(&asked_items)).await?;
            let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; items.len()];
            for (slot, answer) in asked.iter().zip(answers) {
                outcomes[*slot] = Some(answer);
            }
            let calls = session.calls_made().saturating_sub(calls_before);

            // The documents of the batch resolved again, with the answers standing in.
            let mut conn = connection(self.pool).await?;
            let documents = load_documents(&mut conn, run.source_run_id, batch).await?;
            let mut tally = AiTally {
                items: i32::try_from(items.len()).map_err(StoreError::from)?,
                calls: i32::try_from(calls).map_err(StoreError::from)?,
                ..AiTally::default()
            };
            let mut new_rows = Vec::new();
            for document in &documents {
                let rows = waiting
                    .get(&document.position)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                let mut decided: HashMap<String, Decided> = HashMap::new();
                let mut notes: HashMap<String, Note> = HashMap::new();
                for row in rows {
                    let key = (
                        row.field_key.clone(),
                        row.original_value.clone().unwrap_or_default(),
                    );
                    let Some(&index) = question_of.get(&key) else {
                        continue;
                    };
                    let (decision, note) = match outcomes.get(index).cloned().flatten() {
                        Some(outcome) => decide(&outcome),
                        None => (
                            Decided {
                                value: None,
                                confidence: 0.0,
                            },
                            flagged(None, None, "no_candidates"),
                        ),
                    };
                    decided.insert(row.field_key.clone(), decision);
                    notes.insert(row.field_key.clone(), note);
                }
                let resolved = resolve_documents_with(
                    run_id,
                    &policy,
                    &tables,
                    &limits,
                    std::slice::from_ref(document),
                    &decided,
                );
                for mut result in resolved.results {
                    if let Some(note) = notes.get(&result.field_key) {
                        result.model = note.model.clone();
                        result.rationale = note.rationale.clone();
                        result.ai_flag = note.flag.clone();
                        if note.flag.is_none() && result.resolution_step.is_some() {
                            tally.accepted += 1;
                        } else {
                            tally.flagged += 1;
                        }
                    }
                    new_rows.push(result);
                }
            }
            let batch_positions: Vec<i32> = documents.iter().map(|d| d.position).collect();
            conn.transaction::<_, JobError, _>(async |conn| {
                ResolutionResult::replace_documents(conn, run_id, &batch_positions, &new_rows)
                    .await?;
                ResolutionRun::record_ai_batch(conn, run_id, tally).await?;
                Ok(())
            })
            .await?;
            tracing::info!(%run_id, documents = batch.len(), items = tally.items,
                accepted = tally.accepted, flagged = tally.flagged, calls = tally.calls,
                "AI batch stored");
        }

        let mut conn = connection(self.pool).await?;
        conn.transaction::<_, JobError, _>(async |conn| {
            if let Some(completed) =
                <ResolutionRun as RunRow>::complete_ai_pass(conn, run_id).await?
            {
                tracing::info!(%run_id, resolved = completed.fields_resolved,
                    accepted = completed.ai_accepted, "resolution run completed after its AI pass");
            }
            Ok(())
        })
        .await?;
        self.outbox_waker.notify_one();
        Ok(())
    }

    async fn fail(&self, run_id: ResolutionRunId, reason: &str) -> Result<(), JobError> {
        let mut conn = connection(self.pool).await?;
        conn.transaction::<_, JobError, _>(async |conn| {
            <ResolutionRun as RunRow>::fail(conn, run_id, reason).await
        })
        .await?;
        self.outbox_waker.notify_one();
        Ok(())
    }
}

/// What the model is shown about one question: the field and the raw value, and the codes to
/// choose from — the whole table when it is small, else the candidates the cascade weighed.
fn question_item(
    index: usize,
    question: &Question,
    tables: &ChunkTables,
    waiting: &BTreeMap<i32, Vec<ResolutionResult>>,
    batch: &[i32],
) -> ChoiceItem {
    let table = question
        .table
        .as_ref()
        .and_then(|name| LookupTables::get(tables, name));
    let candidates: Vec<Candidate> = match table {
        Some(table) if table.len() <= SMALL_TABLE => table
            .entries()
            .iter()
            .map(|entry| Candidate {
                id: entry.code.clone(),
                data: json!({"code": entry.code, "label": entry.label}),
            })
            .collect(),
        _ => batch
            .iter()
            .filter_map(|position| waiting.get(position))
            .flatten()
            .find(|row| {
                row.field_key == question.field_key
                    && row.original_value.as_deref() == Some(question.value.as_str())
            })
            .and_then(|row| row.candidates.as_ref())
            .into_iter()
            .flat_map(|candidates| &candidates.0)
            .map(|c| Candidate {
                id: c.code.clone(),
                data: json!({"code": c.code, "label": c.label}),
            })
            .collect(),
    };
    ChoiceItem {
        item_id: format!("v{index}"),
        data: json!({"field": question.field_key, "value": question.value}),
        candidates,
    }
}

/// What is noted on a result that waited for the model.
#[derive(Debug, Clone, Default)]
struct Note {
    model: Option<String>,
    rationale: Option<String>,
    /// Why the answer was not used; `None` when it was.
    flag: Option<String>,
}

fn flagged(model: Option<String>, rationale: Option<String>, flag: &str) -> Note {
    Note {
        model,
        rationale,
        flag: Some(flag.to_owned()),
    }
}

/// The decision an outcome makes for the policy, and what is noted on the result.
fn decide(outcome: &ItemOutcome) -> (Decided, Note) {
    match outcome {
        Ok(answer) => {
            let (value, flag) = match &answer.chosen {
                Some(code) if answer.confidence >= MIN_CONFIDENCE => {
                    (Some(ResolvedValue::Code(code.clone())), None)
                }
                Some(_) => (None, Some("low_confidence".to_owned())),
                None => (None, Some("no_choice".to_owned())),
            };
            (
                Decided {
                    value,
                    confidence: answer.confidence,
                },
                Note {
                    model: Some(answer.model.clone()),
                    rationale: Some(answer.rationale.clone()),
                    flag,
                },
            )
        }
        Err(kind) => (
            Decided {
                value: None,
                confidence: 0.0,
            },
            flagged(None, None, kind.as_str()),
        ),
    }
}

async fn load_documents(
    conn: &mut diesel_async::AsyncPgConnection,
    job_run_id: concord_models::ids::JobRunId,
    positions: &[i32],
) -> Result<Vec<Document>, JobError> {
    let (Some(first), Some(last)) = (positions.first(), positions.last()) else {
        return Ok(Vec::new());
    };
    let documents = Document::list(
        conn,
        job_run_id,
        Some(first - 1),
        i64::from(last - first + 1),
    )
    .await?;
    Ok(documents
        .into_iter()
        .filter(|d| positions.binary_search(&d.position).is_ok())
        .collect())
}
