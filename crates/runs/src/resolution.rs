//! A resolution run's chunk: the policy compiled from the run's snapshot, the exact lookup-table
//! versions it names, and the policy run over the chunk's documents — one result per document and
//! field, and what the chunk adds to its run's counters.
//!
//! The compiled policies and tables are cached per service ([`PolicyCache`], [`TableCache`]):
//! one per policy version and per table version (or built-in table), built on first use and
//! shared by every chunk and run after that; chunks that need one being built wait for it.

use std::collections::HashMap;
use std::sync::Arc;

use concord_models::database::connection;
use concord_models::documents::Document;
use concord_models::ids::{DataPolicyId, LookupTableId, ResolutionRunId};
use concord_models::json::Json;
use concord_models::lookup_tables::{LookupTable, TableRef};
use concord_models::resolution_results::{
    NewResolutionResult, ResolutionCandidate, ResolutionStatus as StoredStatus,
    ResolutionStep as StoredStep,
};
use concord_models::resolution_runs::PolicySnapshot;
use concord_models::DbPool;
use concord_scoring::lookup::{LookupCandidate, LookupEntry, LookupIndex};
use concord_scoring::policy::{
    CompiledPolicy, Decided, EvalLimits, LookupTables, PolicyDocument, ResolutionStatus,
    ResolutionStep,
};
use concord_service::{CacheMetrics, JobError};

use crate::cache::OnceCache;

/// How many lookup tables a service keeps compiled by default.
pub const DEFAULT_TABLES: usize = 32;
/// How many compiled policies a service keeps by default.
pub const DEFAULT_POLICIES: usize = 16;

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

fn stored_candidates(candidates: &[LookupCandidate]) -> Option<Json<Vec<ResolutionCandidate>>> {
    if candidates.is_empty() {
        return None;
    }
    Some(Json(
        candidates
            .iter()
            .map(|c| ResolutionCandidate {
                code: c.code.clone(),
                label: c.label.clone(),
                score: c.score,
            })
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
                // A policy holds at most `MAX_FIELDS` fields (asserted below to fit `i16`).
                field_position: i16::try_from(position).unwrap_or(i16::MAX),
                document_id: document.document_id.clone(),
                field_key: field.field_key,
                original_value: field.original_value,
                resolved_value: field.value.map(|value| value.to_json()),
                resolution_step: field.step.map(stored_step),
                confidence: field.confidence,
                status,
                candidates: stored_candidates(&field.candidates),
                reason: field.reason,
                model: None,
                rationale: None,
                ai_flag: None,
            });
        }
    }
    Resolved { results, tally }
}

/// A table version, or a built-in table by name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TableKey {
    Stored(LookupTableId, i32),
    BuiltIn(String),
}

/// The compiled lookup tables a service keeps: one per table version (or built-in table), loaded
/// and built on first use and shared by every chunk and run after that.
pub struct TableCache(OnceCache<TableKey, LookupIndex>);

/// Why a table can't be had: the run fails with this.
#[derive(Debug)]
pub enum TableError {
    Missing(String),
    Store(JobError),
}

impl TableCache {
    /// A cache of at most `capacity` tables.
    pub fn new(capacity: usize) -> Self {
        Self(OnceCache::new(capacity))
    }

    /// The same cache, reporting its size and build times to `metrics`.
    pub fn observed(self, metrics: CacheMetrics) -> Self {
        Self(self.0.observed(metrics))
    }

    /// The compiled table a snapshot names.
    pub async fn get(
        &self,
        pool: &DbPool,
        table: &TableRef,
    ) -> Result<Arc<LookupIndex>, TableError> {
        let key = match (table.built_in, table.table_id, table.version) {
            (false, Some(id), Some(version)) => TableKey::Stored(LookupTableId::from(id), version),
            _ => TableKey::BuiltIn(table.name.clone()),
        };
        self.0
            .get_or_try_init(key.clone(), || async {
                let mut entries: Vec<LookupEntry> = Vec::new();
                let extends = match &key {
                    TableKey::BuiltIn(name) => Some(name.clone()),
                    TableKey::Stored(..) => table.extends.clone(),
                };
                if let Some(name) = extends {
                    let standard = concord_vocabularies::entries(&name).ok_or_else(|| {
                        TableError::Missing(format!("there is no built-in lookup table `{name}`"))
                    })?;
                    entries.extend(standard.iter().map(|e| LookupEntry {
                        code: e.code.clone(),
                        label: e.label.clone(),
                        aliases: e.aliases.clone(),
                    }));
                }
                if let TableKey::Stored(id, version) = key {
                    let mut conn = connection(pool)
                        .await
                        .map_err(|e| TableError::Store(JobError::from(e)))?;
                    if LookupTable::find_version(&mut conn, id, version)
                        .await
                        .map_err(|e| TableError::Store(JobError::from(e)))?
                        .is_none()
                    {
                        return Err(TableError::Missing(format!(
                            "the lookup table `{}` (version {version}) was deleted",
                            table.name
                        )));
                    }
                    let rows = LookupTable::all_entries(&mut conn, id, version)
                        .await
                        .map_err(|e| TableError::Store(JobError::from(e)))?;
                    entries.extend(rows.into_iter().map(|row| LookupEntry {
                        code: row.code,
                        label: row.label,
                        aliases: row.aliases,
                    }));
                }
                let started = std::time::Instant::now();
                let index = tokio::task::spawn_blocking(move || LookupIndex::build(entries))
                    .await
                    .map_err(|e| {
                        TableError::Store(JobError::Permanent(format!(
                            "building a lookup table panicked: {e}"
                        )))
                    })?;
                tracing::info!(
                    table = %table.name,
                    entries = index.len(),
                    build_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "lookup table compiled"
                );
                Ok::<_, TableError>(index)
            })
            .await
    }

    /// Every table `snapshot` names, by the names its rules use.
    pub async fn chunk_tables(
        &self,
        pool: &DbPool,
        snapshot: &PolicySnapshot,
    ) -> Result<ChunkTables, TableError> {
        let mut tables = HashMap::new();
        for table in &snapshot.tables {
            tables.insert(table.name.clone(), self.get(pool, table).await?);
        }
        Ok(ChunkTables(tables))
    }
}

/// The tables of one chunk, by the names the policy's rules use.
#[derive(Clone, Default)]
pub struct ChunkTables(HashMap<String, Arc<LookupIndex>>);

impl LookupTables for ChunkTables {
    fn get(&self, name: &str) -> Option<&LookupIndex> {
        self.0.get(name).map(|index| index.as_ref())
    }
}

/// The compiled policies a service keeps, by policy and version.
pub struct PolicyCache(OnceCache<(DataPolicyId, i32), CompiledPolicy>);

impl PolicyCache {
    /// A cache of at most `capacity` policies.
    pub fn new(capacity: usize) -> Self {
        Self(OnceCache::new(capacity))
    }

    /// The same cache, reporting its size and build times to `metrics`.
    pub fn observed(self, metrics: CacheMetrics) -> Self {
        Self(self.0.observed(metrics))
    }

    /// The policy of a run's snapshot, compiled if this service has not compiled that version
    /// yet. The error says why the run cannot go on (it fails with it).
    pub async fn get(&self, snapshot: &PolicySnapshot) -> Result<Arc<CompiledPolicy>, String> {
        self.0
            .get_or_try_init((snapshot.policy_id, snapshot.version), || async {
                compile(snapshot)
            })
            .await
    }
}

/// A run's policy snapshot compiled; the error says why the run cannot go on.
pub fn compile(snapshot: &PolicySnapshot) -> Result<CompiledPolicy, String> {
    let document = PolicyDocument {
        fields: snapshot.fields.clone(),
        rules: snapshot.rules.clone(),
    };
    let known: Vec<&str> = snapshot.tables.iter().map(|t| t.name.as_str()).collect();
    let policy =
        CompiledPolicy::compile(&document, &|name| known.contains(&name)).map_err(|errors| {
            format!(
                "the run's policy is invalid: {}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
    Ok(policy)
}

/// A field's position is stored as `smallint`: every position of a compiled policy fits.
const _: () = assert!(concord_scoring::policy::MAX_FIELDS <= 32_767);
