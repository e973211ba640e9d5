//! The reference indexes a worker holds: one per dataset and index key (the targets, strategies
//! and params a spec indexes on — not its weights), built on first use from the dataset's rows
//! and shared by every chunk and run after that. Chunks that need an index being built wait for
//! it rather than building it twice. The least recently used index goes when the cache is full.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use concord_models::database::connection;
use concord_models::ids::ReferenceDatasetId;
use concord_models::reference_datasets::{ReferenceDataset, ReferenceRow};
use concord_models::DbPool;
use concord_scoring::matcher::{MatchSpec, ReferenceIndex};
use concord_service::JobError;
use tokio::sync::OnceCell;

pub const DEFAULT_CAPACITY: usize = 4;

type Key = (ReferenceDatasetId, String);
type Slot = Arc<OnceCell<Arc<ReferenceIndex>>>;

pub struct IndexCache {
    capacity: usize,
    slots: Mutex<VecDeque<(Key, Slot)>>,
}

impl IndexCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            slots: Mutex::new(VecDeque::new()),
        }
    }

    fn slot(&self, key: Key) -> Slot {
        // A poisoned lock only means another thread panicked while holding it; the deque is
        // still consistent.
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(position) = slots.iter().position(|(k, _)| *k == key) {
            if let Some(entry) = slots.remove(position) {
                let slot = entry.1.clone();
                slots.push_back(entry);
                return slot;
            }
        }
        let slot: Slot = Arc::new(OnceCell::new());
        slots.push_back((key, slot.clone()));
        while slots.len() > self.capacity {
            slots.pop_front();
        }
        slot
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
        let slot = self.slot((dataset.id, spec.index_key()));
        let index = slot
            .get_or_try_init(|| build(pool, dataset, columns, spec))
            .await?;
        Ok(index.clone())
    }
}

async fn build(
    pool: &DbPool,
    dataset: &ReferenceDataset,
    columns: &[String],
    spec: &Arc<MatchSpec>,
) -> Result<Arc<ReferenceIndex>, JobError> {
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
        load_ms = loaded.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "reference index built"
    );
    Ok(Arc::new(index))
}
