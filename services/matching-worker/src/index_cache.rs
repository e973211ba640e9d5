//! The reference indexes a worker holds: one per dataset and index key (the targets, strategies
//! and params a spec indexes on — not its weights), built on first use from the dataset's rows
//! and shared by every chunk and run after that. Chunks that need an index being built wait for
//! it rather than building it twice. The least recently used index goes when the cache is full.

use std::sync::Arc;
use std::time::Instant;

use concord_models::database::connection;
use concord_models::ids::ReferenceDatasetId;
use concord_models::reference_datasets::{ReferenceDataset, ReferenceRow};
use concord_models::DbPool;
use concord_runs::cache::OnceCache;
use concord_scoring::matcher::{MatchSpec, ReferenceIndex};
use concord_service::{CacheMetrics, JobError};

pub const DEFAULT_CAPACITY: usize = 4;

/// The indexes, by dataset and index key.
pub struct IndexCache(OnceCache<(ReferenceDatasetId, String), ReferenceIndex>);

impl IndexCache {
    /// A cache of at most `capacity` indexes, reporting its size and build times to `metrics`.
    pub fn new(capacity: usize, metrics: CacheMetrics) -> Self {
        Self(OnceCache::new(capacity).observed(metrics))
    }

    /// The index of `dataset` for `spec`, built from the dataset's rows if this worker has not
    /// built it yet.
    pub async fn get_or_build(
        &self,
        pool: &DbPool,
        dataset: &ReferenceDataset,
        columns: &[String],
        spec: &Arc<MatchSpec>,
    ) -> Result<Arc<ReferenceIndex>, JobError> {
        self.0
            .get_or_try_init((dataset.id, spec.index_key()), || {
                build(pool, dataset, columns, spec)
            })
            .await
    }

    /// The index of `dataset` for `spec` if this worker has built it, without building it.
    pub fn ready(
        &self,
        dataset: &ReferenceDataset,
        spec: &MatchSpec,
    ) -> Option<Arc<ReferenceIndex>> {
        self.0.peek(&(dataset.id, spec.index_key()))
    }
}

async fn build(
    pool: &DbPool,
    dataset: &ReferenceDataset,
    columns: &[String],
    spec: &Arc<MatchSpec>,
) -> Result<ReferenceIndex, JobError> {
    let started = Instant::now();
    let rows = {
        let mut conn = connection(pool).await?;
        ReferenceRow::load_all(&mut conn, dataset.id).await?
    };
    let loaded = started.elapsed();
    // Each field's target column, by position in the dataset's cells.
    let positions: Vec<Option<usize>> = spec
        .fields()
        .iter()
        .map(|field| columns.iter().position(|c| *c == field.target))
        .collect();
    let spec = spec.clone();
    let row_count = rows.len();
    let index = tokio::task::spawn_blocking(move || {
        let aligned = rows
            .into_iter()
            .map(|(row_id, cells)| {
                let values = positions
                    .iter()
                    .map(|position| position.and_then(|p| cells.get(p).cloned().flatten()))
                    .collect();
                (row_id, values)
            })
            .collect();
        ReferenceIndex::build_parallel(&spec, aligned, crate::cores())
    })
    .await
    .map_err(|error| {
        JobError::Permanent(format!("building the reference index panicked: {error}"))
    })?;
    tracing::info!(
        dataset_id = %dataset.id,
        rows = row_count,
        load_ms = u64::try_from(loaded.as_millis()).unwrap_or(u64::MAX),
        total_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "reference index built"
    );
    Ok(index)
}
