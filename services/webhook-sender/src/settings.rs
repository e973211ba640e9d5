//! The sender's settings, from the environment (each with a default; a malformed value is an
//! error naming the variable).

use std::time::Duration;

use concord_service::settings::env_or;
use concord_service::{SettingsError, WorkerSettings};
use concord_webhooks::target::TargetPolicy;

use crate::DEFAULT_OPS_ADDR;

#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// The database, the broker, the ops address and `CONCORD_CONCURRENCY` (events ingested at
    /// once).
    pub worker: WorkerSettings,
    pub delivery: DeliverySettings,
}

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// `CONCORD_WEBHOOKS_ALLOW_PRIVATE_TARGETS`: call private, loopback and link-local addresses
    /// too (default false).
    pub targets: TargetPolicy,
    /// `CONCORD_WEBHOOKS_RETRY_BASE_MS`: the first retry's ceiling; it doubles each attempt.
    pub retry_base: Duration,
    /// `CONCORD_WEBHOOKS_RETRY_MAX_DELAY_MS`: the ceiling of any one delay.
    pub retry_max_delay: Duration,
    /// `CONCORD_WEBHOOKS_RETRY_WINDOW_SECS`: how long after its first attempt a delivery is
    /// still retried (at least; default 24 h).
    pub retry_window: Duration,
    /// `CONCORD_WEBHOOKS_DISABLE_AFTER`: failed attempts in a row after which an endpoint is
    /// disabled.
    pub disable_after: u32,
    /// `CONCORD_WEBHOOKS_TIMEOUT_MS`: one attempt's limit, connection to last byte.
    pub request_timeout: Duration,
    /// `CONCORD_WEBHOOKS_IN_FLIGHT`: attempts at once.
    pub in_flight: u16,
    /// `CONCORD_WEBHOOKS_POLL_MS`: how often due deliveries are looked for when nothing wakes
    /// the loop.
    pub poll_interval: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            targets: TargetPolicy::default(),
            retry_base: Duration::from_secs(5),
            retry_max_delay: Duration::from_secs(60 * 60),
            retry_window: Duration::from_secs(24 * 60 * 60),
            disable_after: 50,
            request_timeout: Duration::from_secs(10),
            in_flight: 16,
            poll_interval: Duration::from_millis(500),
        }
    }
}

impl SenderSettings {
    pub fn from_env() -> Result<Self, SettingsError> {
        let defaults = DeliverySettings::default();
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Ok(Self {
            worker: WorkerSettings::from_env(DEFAULT_OPS_ADDR)?,
            delivery: DeliverySettings {
                targets: TargetPolicy {
                    allow_private: env_or("CONCORD_WEBHOOKS_ALLOW_PRIVATE_TARGETS", false)?,
                },
                retry_base: Duration::from_millis(env_or(
                    "CONCORD_WEBHOOKS_RETRY_BASE_MS",
                    millis(defaults.retry_base),
                )?),
                retry_max_delay: Duration::from_millis(env_or(
                    "CONCORD_WEBHOOKS_RETRY_MAX_DELAY_MS",
                    millis(defaults.retry_max_delay),
                )?),
                retry_window: Duration::from_secs(env_or(
                    "CONCORD_WEBHOOKS_RETRY_WINDOW_SECS",
                    defaults.retry_window.as_secs(),
                )?),
                disable_after: env_or("CONCORD_WEBHOOKS_DISABLE_AFTER", defaults.disable_after)?
                    .max(1),
                request_timeout: Duration::from_millis(env_or(
                    "CONCORD_WEBHOOKS_TIMEOUT_MS",
                    millis(defaults.request_timeout),
                )?),
                in_flight: env_or("CONCORD_WEBHOOKS_IN_FLIGHT", defaults.in_flight)?.max(1),
                poll_interval: Duration::from_millis(env_or(
                    "CONCORD_WEBHOOKS_POLL_MS",
                    millis(defaults.poll_interval),
                )?),
            },
        })
    }
}
