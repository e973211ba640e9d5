//! Settings from the environment. Every variable has a default that works on a developer's
//! machine; a malformed value is an error naming the variable.

use std::str::FromStr;

use concord_queue::Topology;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("environment variable {name}: {message}")]
pub struct SettingsError {
    pub name: &'static str,
    pub message: String,
}

/// Reads `name`, or `default` when it is unset.
pub fn env_or<T: FromStr>(name: &'static str, default: T) -> Result<T, SettingsError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse().map_err(|e: T::Err| SettingsError {
                name,
                message: format!("`{value}` is not valid: {e}"),
            })
        }
        _ => Ok(default),
    }
}

/// What every service connects to.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// `CONCORD_DATABASE_URL`
    pub database_url: String,
    /// `CONCORD_AMQP_URL`
    pub amqp_url: String,
    /// `CONCORD_NAMESPACE` (prefix of every exchange and queue), `CONCORD_DELIVERY_LIMIT`,
    /// `CONCORD_QUEUE_EXPIRES_MS`
    pub topology: Topology,
    /// `CONCORD_DB_POOL_SIZE`
    pub db_pool_size: usize,
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/concord";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

impl ServiceSettings {
    pub fn from_env() -> Result<Self, SettingsError> {
        let mut topology = Topology::new(env_or("CONCORD_NAMESPACE", "concord".to_owned())?);
        topology.delivery_limit = env_or("CONCORD_DELIVERY_LIMIT", 5u32)?;
        topology.queue_expires_ms = match env_or("CONCORD_QUEUE_EXPIRES_MS", 0u32)? {
            0 => None,
            ms => Some(ms),
        };
        Ok(Self {
            database_url: env_or("CONCORD_DATABASE_URL", DEFAULT_DATABASE_URL.to_owned())?,
            amqp_url: env_or("CONCORD_AMQP_URL", DEFAULT_AMQP_URL.to_owned())?,
            topology,
            db_pool_size: env_or("CONCORD_DB_POOL_SIZE", 10usize)?,
        })
    }
}
