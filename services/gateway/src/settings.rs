use concord_service::settings::env_or;
use concord_service::{ServiceSettings, SettingsError};

use crate::state::Limits;

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub service: ServiceSettings,
    /// `CONCORD_HTTP_ADDR` (default 127.0.0.1:8080; port 0 picks a free port).
    pub http_addr: String,
    /// `CONCORD_HTTP_WORKERS`
    pub http_workers: usize,
    /// `CONCORD_RATE_LIMIT_PER_MINUTE`: requests per API key per minute.
    pub rate_limit_per_minute: u32,
    /// `CONCORD_KEY_CACHE_MS`: how long a key found valid is trusted without a lookup (0: never).
    pub key_cache_ttl: std::time::Duration,
    /// `CONCORD_INTAKE_CONCURRENCY`: intake messages handled at once.
    pub intake_concurrency: u16,
    pub limits: Limits,
}

impl GatewaySettings {
    /// How long a key found valid is trusted by default (`CONCORD_KEY_CACHE_MS`).
    pub const DEFAULT_KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

    pub fn from_env() -> Result<Self, SettingsError> {
        let defaults = Limits::default();
        Ok(Self {
            service: ServiceSettings::from_env()?,
            http_addr: env_or("CONCORD_HTTP_ADDR", "127.0.0.1:8080".to_owned())?,
            http_workers: env_or("CONCORD_HTTP_WORKERS", 2usize)?,
            rate_limit_per_minute: env_or("CONCORD_RATE_LIMIT_PER_MINUTE", 600u32)?,
            key_cache_ttl: std::time::Duration::from_millis(env_or(
                "CONCORD_KEY_CACHE_MS",
                u64::try_from(Self::DEFAULT_KEY_CACHE_TTL.as_millis()).unwrap_or(u64::MAX),
            )?),
            intake_concurrency: env_or("CONCORD_INTAKE_CONCURRENCY", 2u16)?,
            limits: Limits {
                max_json_body_bytes: env_or(
                    "CONCORD_MAX_JSON_BODY_BYTES",
                    defaults.max_json_body_bytes,
                )?,
                max_ndjson_line_bytes: env_or(
                    "CONCORD_MAX_NDJSON_LINE_BYTES",
                    defaults.max_ndjson_line_bytes,
                )?,
                matching_chunk_size: env_or(
                    "CONCORD_MATCHING_CHUNK_SIZE",
                    defaults.matching_chunk_size,
                )?
                .max(1),
                resolution_chunk_size: env_or(
                    "CONCORD_RESOLUTION_CHUNK_SIZE",
                    defaults.resolution_chunk_size,
                )?
                .max(1),
                realtime_timeout: std::time::Duration::from_millis(env_or(
                    "CONCORD_REALTIME_TIMEOUT_MS",
                    3_000u64,
                )?),
                webhook_targets: concord_webhooks::target::TargetPolicy {
                    allow_private: env_or("CONCORD_WEBHOOKS_ALLOW_PRIVATE_TARGETS", false)?,
                },
            },
        })
    }
}
