use std::sync::Arc;

use concord_models::DbPool;
use tokio::sync::Notify;

use crate::rate_limit::RateLimiter;
use crate::request_context::HttpMetrics;

/// What every handler and middleware of the gateway shares.
pub struct AppState {
    pub pool: DbPool,
    /// Wakes the outbox relay after a commit that wrote to the outbox.
    pub outbox_waker: Arc<Notify>,
    pub rate_limiter: RateLimiter,
    /// API keys recently found valid.
    pub keys: crate::auth::KeyCache,
    pub metrics: HttpMetrics,
    pub limits: Limits,
    /// The matching workers' real-time matches.
    pub realtime: crate::matching::realtime::RealtimeClient,
    /// Completed matching runs' rendered detail, by run and version (`updated_at`).
    pub run_details: RunDetails,
}

/// Rendered run details kept: the most recently read first to stay.
pub type RunDetails = concord_runs::cache::OnceCache<
    (
        concord_models::ids::MatchingRunId,
        chrono::DateTime<chrono::Utc>,
    ),
    actix_web::web::Bytes,
>;

/// How many rendered run details a gateway keeps (about 100 KB each).
pub const RUN_DETAILS_KEPT: usize = 64;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest JSON body accepted (NDJSON bodies are streamed and unbounded).
    pub max_json_body_bytes: usize,
    /// Longest NDJSON line accepted.
    pub max_ndjson_line_bytes: usize,
    /// Documents per chunk of a matching run (a chunk is one message for one worker).
    pub matching_chunk_size: u32,
    /// Documents per chunk of a resolution run.
    pub resolution_chunk_size: u32,
    /// How long a real-time match waits for a matching worker's answer before a 503.
    pub realtime_timeout: std::time::Duration,
    /// Which webhook URLs may be registered (private addresses only when the operator allows).
    pub webhook_targets: concord_webhooks::target::TargetPolicy,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_json_body_bytes: 64 * 1024 * 1024,
            max_ndjson_line_bytes: 1024 * 1024,
            matching_chunk_size: 5_000,
            resolution_chunk_size: 5_000,
            realtime_timeout: std::time::Duration::from_secs(3),
            webhook_targets: concord_webhooks::target::TargetPolicy::default(),
        }
    }
}
