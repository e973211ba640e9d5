//! Prometheus metrics of model calls, registered like the other crates' (`register(&Registry)`).

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub(crate) struct LlmMetrics {
    /// HTTP calls to the model, by outcome (`ok` or a failure kind).
    pub calls: IntCounterVec,
    /// Latency of one HTTP call, whatever its outcome.
    pub latency: Histogram,
    pub prompt_tokens: IntCounter,
    pub completion_tokens: IntCounter,
    /// Items that got no answer, by failure kind.
    pub failures: IntCounterVec,
    /// Prompts answered from the session's cache, without a call.
    pub cache_hits: IntCounter,
}

impl LlmMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let calls = IntCounterVec::new(
            Opts::new("concord_llm_calls_total", "Model calls, by outcome"),
            &["outcome"],
        )?;
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "concord_llm_call_duration_seconds",
                "Latency of one model call",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
            ]),
        )?;
        let prompt_tokens = IntCounter::new(
            "concord_llm_prompt_tokens_total",
            "Prompt tokens the model server reported",
        )?;
        let completion_tokens = IntCounter::new(
            "concord_llm_completion_tokens_total",
            "Completion tokens the model server reported",
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "concord_llm_item_failures_total",
                "Items the model gave no usable answer for, by failure kind",
            ),
            &["kind"],
        )?;
        let cache_hits = IntCounter::new(
            "concord_llm_cache_hits_total",
            "Prompts answered from the run's cache without a model call",
        )?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(prompt_tokens.clone()))?;
        registry.register(Box::new(completion_tokens.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(cache_hits.clone()))?;
        Ok(Self {
            calls,
            latency,
            prompt_tokens,
            completion_tokens,
            failures,
            cache_hits,
        })
    }
}
