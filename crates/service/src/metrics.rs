//! What a worker measures of its work, in the registry its `/metrics` serves: chunks and their
//! documents, runs, and the caches of what is costly to build (reference indexes, compiled
//! policies, lookup tables). Labelled by the kind of run (`matching`, `resolution`) or the cache.

use concord_telemetry::prometheus::{
    self, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

#[derive(Clone)]
pub struct WorkMetrics {
    chunk_seconds: HistogramVec,
    documents: IntCounterVec,
    run_seconds: HistogramVec,
    cache_entries: IntGaugeVec,
    cache_build_seconds: HistogramVec,
}

impl WorkMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self {
            chunk_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "concord_chunk_seconds",
                    "Time to take one chunk of a run (load, compute, write, count), by kind of run",
                )
                .buckets(prometheus::exponential_buckets(0.01, 2.0, 14)?),
                &["kind"],
            )?,
            documents: IntCounterVec::new(
                Opts::new(
                    "concord_documents_total",
                    "Documents matched or resolved in chunks counted into their run, by kind of run",
                ),
                &["kind"],
            )?,
            run_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "concord_run_seconds",
                    "Time from a run's creation to its last chunk counted, by kind of run",
                )
                .buckets(prometheus::exponential_buckets(0.25, 2.0, 14)?),
                &["kind"],
            )?,
            cache_entries: IntGaugeVec::new(
                Opts::new(
                    "concord_cache_entries",
                    "Entries held (built or being built) by a worker cache",
                ),
                &["cache"],
            )?,
            cache_build_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "concord_cache_build_seconds",
                    "Time to build one entry of a worker cache (a reference index, say)",
                )
                .buckets(prometheus::exponential_buckets(0.001, 4.0, 10)?),
                &["cache"],
            )?,
        };
        registry.register(Box::new(metrics.chunk_seconds.clone()))?;
        registry.register(Box::new(metrics.documents.clone()))?;
        registry.register(Box::new(metrics.run_seconds.clone()))?;
        registry.register(Box::new(metrics.cache_entries.clone()))?;
        registry.register(Box::new(metrics.cache_build_seconds.clone()))?;
        Ok(metrics)
    }

    /// A chunk of a `kind` run was counted into its run: it took `seconds` and held `documents`.
    pub fn chunk_taken(&self, kind: &str, seconds: f64, documents: usize) {
        self.chunk_seconds
            .with_label_values(&[kind])
            .observe(seconds);
        self.documents
            .with_label_values(&[kind])
            .inc_by(u64::try_from(documents).unwrap_or(u64::MAX));
    }

    /// A `kind` run had its last chunk counted, `seconds` after it was created.
    pub fn run_finished(&self, kind: &str, seconds: f64) {
        self.run_seconds.with_label_values(&[kind]).observe(seconds);
    }

    /// The handles a cache named `cache` reports through.
    pub fn cache(&self, cache: &str) -> CacheMetrics {
        CacheMetrics {
            entries: self.cache_entries.with_label_values(&[cache]),
            build_seconds: self.cache_build_seconds.with_label_values(&[cache]),
        }
    }
}

/// One cache's entries and build times.
#[derive(Clone)]
pub struct CacheMetrics {
    pub entries: IntGauge,
    pub build_seconds: Histogram,
}
