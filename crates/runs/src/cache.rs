//! A bounded cache of values that are costly to build and shared once built.
//!
//! [`OnceCache::get_or_try_init`] returns the value of a key, building it on first use; callers
//! that ask for a key while it is being built wait for that build rather than starting another.
//! A build that fails leaves nothing behind: the next caller builds again. When more than
//! `capacity` keys are held, the least recently used goes (whoever still holds its value keeps it
//! alive until they drop it).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use concord_service::CacheMetrics;
use tokio::sync::OnceCell;

type Slot<V> = Arc<OnceCell<Arc<V>>>;

/// See the module documentation.
pub struct OnceCache<K, V> {
    capacity: usize,
    /// Least recently used first.
    slots: Mutex<VecDeque<(K, Slot<V>)>>,
    /// Where its entries and build times are reported, if anywhere.
    metrics: Option<CacheMetrics>,
}

impl<K: PartialEq, V> OnceCache<K, V> {
    /// A cache of at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            slots: Mutex::new(VecDeque::new()),
            metrics: None,
        }
    }

    /// The same cache, reporting how many entries it holds and how long each took to build.
    pub fn observed(mut self, metrics: CacheMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The value of `key`, built with `init` if no caller has built it yet (or the last build
    /// failed). The error of a failed build is returned to the caller that ran it.
    pub async fn get_or_try_init<E, F, Fut>(&self, key: K, init: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let slot = self.slot(key);
        let value = slot
            .get_or_try_init(|| async {
                let started = std::time::Instant::now();
                let built = init().await.map(Arc::new);
                if let (Ok(_), Some(metrics)) = (&built, &self.metrics) {
                    metrics
                        .build_seconds
                        .observe(started.elapsed().as_secs_f64());
                }
                built
            })
            .await?;
        Ok(value.clone())
    }

    /// The value of `key` if it is built, without building it or waiting for a build. A value
    /// found counts as used (it is the last to go).
    pub fn peek(&self, key: &K) -> Option<Arc<V>> {
        let mut slots = self.lock();
        let position = slots.iter().position(|(k, _)| k == key)?;
        let value = slots[position].1.get().cloned()?;
        if let Some(entry) = slots.remove(position) {
            slots.push_back(entry);
        }
        Some(value)
    }

    /// How many keys are held (built or being built).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(K, Slot<V>)>> {
        // A poisoned lock only means another thread panicked while holding it; the deque is
        // still consistent (every change to it is a single push, pop or remove).
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slot(&self, key: K) -> Slot<V> {
        let mut slots = self.lock();
        if let Some(position) = slots.iter().position(|(k, _)| *k == key) {
            if let Some(entry) = slots.remove(position) {
                let slot = entry.1.clone();
                slots.push_back(entry);
                return slot;
            }
        }
        let slot: Slot<V> = Arc::new(OnceCell::new());
        slots.push_back((key, slot.clone()));
        while slots.len() > self.capacity {
            slots.pop_front();
        }
        if let Some(metrics) = &self.metrics {
            metrics
                .entries
                .set(i64::try_from(slots.len()).unwrap_or(i64::MAX));
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_value_is_built_once_for_callers_that_ask_at_the_same_time() {
        let cache: Arc<OnceCache<&str, usize>> = Arc::new(OnceCache::new(4));
        let builds = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..8 {
            let (cache, builds) = (cache.clone(), builds.clone());
            handles.push(tokio::spawn(async move {
                cache
                    .get_or_try_init("index", || async {
                        builds.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, String>(42)
                    })
                    .await
            }));
        }
        for handle in handles {
            let value = handle
                .await
                .expect("the task ran")
                .expect("the build succeeded");
            assert_eq!(*value, 42);
        }
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_build_is_not_kept() {
        let cache: OnceCache<u32, String> = OnceCache::new(2);
        let failed = cache
            .get_or_try_init(1, || async { Err::<String, _>("the table was deleted") })
            .await;
        assert_eq!(failed.err(), Some("the table was deleted"));
        let built = cache
            .get_or_try_init(1, || async { Ok::<_, &str>("built".to_owned()) })
            .await;
        assert_eq!(built.as_deref().map(String::as_str), Ok("built"));
    }

    #[tokio::test]
    async fn the_least_recently_used_key_goes_first() {
        let cache: OnceCache<u32, u32> = OnceCache::new(2);
        let builds = AtomicUsize::new(0);
        let get = |key: u32| {
            let builds = &builds;
            let cache = &cache;
            async move {
                cache
                    .get_or_try_init(key, || async move {
                        builds.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ()>(key * 10)
                    })
                    .await
                    .map(|v| *v)
            }
        };
        assert_eq!(get(1).await, Ok(10));
        assert_eq!(get(2).await, Ok(20));
        assert_eq!(get(1).await, Ok(10)); // 1 is now the most recent
        assert_eq!(get(3).await, Ok(30)); // 2 goes
        assert_eq!(cache.len(), 2);
        assert_eq!(builds.load(Ordering::SeqCst), 3);
        assert_eq!(get(1).await, Ok(10)); // still held
        assert_eq!(builds.load(Ordering::SeqCst), 3);
        assert_eq!(get(2).await, Ok(20)); // built again
        assert_eq!(builds.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_peek_finds_only_built_values_and_counts_as_a_use() {
        let cache: OnceCache<u32, u32> = OnceCache::new(2);
        assert_eq!(cache.peek(&1), None);
        let build =
            |key: u32| cache.get_or_try_init(key, move || async move { Ok::<_, ()>(key * 10) });
        assert_eq!(build(1).await.map(|v| *v), Ok(10));
        assert_eq!(build(2).await.map(|v| *v), Ok(20));
        assert_eq!(cache.peek(&1).map(|v| *v), Some(10)); // 1 is now the most recent
        assert_eq!(build(3).await.map(|v| *v), Ok(30)); // 2 goes
        assert_eq!(cache.peek(&2), None);
        assert_eq!(cache.peek(&1).map(|v| *v), Some(10));
        assert_eq!(cache.len(), 2);
    }

    #[tokio::test]
    async fn a_capacity_of_zero_holds_one_key() {
        let cache: OnceCache<u32, u32> = OnceCache::new(0);
        let value = cache.get_or_try_init(7, || async { Ok::<_, ()>(70) }).await;
        assert_eq!(value.map(|v| *v), Ok(70));
        assert_eq!(cache.len(), 1);
    }
}
