//! The lookup tables a worker holds, compiled for the cascade: one per table version (or
//! built-in table), loaded and built on first use and shared by every chunk and run after that.
//! Chunks that need a table being built wait for it rather than building it twice; the least
//! recently used table goes when the cache is full.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use concord_models::database::connection;
use concord_models::ids::LookupTableId;
use concord_models::lookup_tables::{LookupTable, TableRef};
use concord_models::DbPool;
use concord_scoring::lookup::{LookupEntry, LookupIndex};
use concord_service::JobError;
use tokio::sync::OnceCell;

pub const DEFAULT_CAPACITY: usize = 32;

/// A table version, or a built-in table by name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Stored(LookupTableId, i32),
    BuiltIn(String),
}

type Slot = Arc<OnceCell<Arc<LookupIndex>>>;

pub struct TableCache {
    capacity: usize,
    slots: Mutex<VecDeque<(Key, Slot)>>,
}

/// Why a table can't be had: the run fails with this.
#[derive(Debug)]
pub enum TableError {
    Missing(String),
    Store(JobError),
}

impl TableCache {
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

    /// The compiled table a snapshot names.
    pub async fn get(
        &self,
        pool: &DbPool,
        table: &TableRef,
    ) -> Result<Arc<LookupIndex>, TableError> {
        let key = match (table.built_in, table.table_id, table.version) {
            (false, Some(id), Some(version)) => Key::Stored(LookupTableId::from(id), version),
            _ => Key::BuiltIn(table.name.clone()),
        };
        let slot = self.slot(key.clone());
        let index = slot
            .get_or_try_init(|| async {
                let mut entries: Vec<LookupEntry> = Vec::new();
                let extends = match &key {
                    Key::BuiltIn(name) => Some(name.clone()),
                    Key::Stored(..) => table.extends.clone(),
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
                if let Key::Stored(id, version) = key {
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
                    build_ms = started.elapsed().as_millis() as u64,
                    "lookup table compiled"
                );
                Ok::<_, TableError>(Arc::new(index))
            })
            .await?;
        Ok(index.clone())
    }
}
