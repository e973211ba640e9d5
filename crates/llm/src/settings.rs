//! Configuration from `CONCORD_LLM_*` environment variables, with defaults that reach the local
//! llama.cpp server.

use std::fmt;
use std::time::Duration;

/// Where the model is and how hard the client may use it.
#[derive(Clone, PartialEq, Eq)]
pub struct LlmSettings {
    /// The OpenAI-compatible API root, up to and including `/v1` (`CONCORD_LLM_BASE_URL`).
    pub base_url: String,
    /// The model name sent with every request (`CONCORD_LLM_MODEL`).
    pub model: String,
    /// Sent as a bearer token when set (`CONCORD_LLM_API_KEY`). Never shown by `Debug` or logs.
    pub api_key: Option<String>,
    /// Model calls in flight at once, across all sessions of a client (`CONCORD_LLM_CONCURRENCY`).
    pub concurrency: usize,
    /// Limit on one HTTP call, connection to last byte (`CONCORD_LLM_TIMEOUT_MS`).
    pub timeout: Duration,
    /// Retries after the first attempt of a prompt (`CONCORD_LLM_RETRIES`).
    pub max_retries: u32,
    /// Items asked about in one prompt (`CONCORD_LLM_ITEMS_PER_PROMPT`).
    pub items_per_prompt: usize,
    /// HTTP calls (retries included) one session may make (`CONCORD_LLM_BUDGET`).
    pub budget_per_run: u32,
}

pub const ENV_BASE_URL: &str = "CONCORD_LLM_BASE_URL";
pub const ENV_MODEL: &str = "CONCORD_LLM_MODEL";
pub const ENV_API_KEY: &str = "CONCORD_LLM_API_KEY";
pub const ENV_CONCURRENCY: &str = "CONCORD_LLM_CONCURRENCY";
pub const ENV_TIMEOUT_MS: &str = "CONCORD_LLM_TIMEOUT_MS";
pub const ENV_RETRIES: &str = "CONCORD_LLM_RETRIES";
pub const ENV_ITEMS_PER_PROMPT: &str = "CONCORD_LLM_ITEMS_PER_PROMPT";
pub const ENV_BUDGET: &str = "CONCORD_LLM_BUDGET";

pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8081/v1";
pub const DEFAULT_MODEL: &str = "SmolLM2-135M-Instruct";

/// A `CONCORD_LLM_*` variable that could not be used. The value is not repeated (it may be a key).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {reason}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub reason: String,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            model: DEFAULT_MODEL.to_owned(),
            api_key: None,
            // The local llama.cpp server (deploy/llm.sh) decodes one call at a time: a second
            // call in flight would only wait in its queue, and time out there. A hosted model
            // takes more (`CONCORD_LLM_CONCURRENCY`).
            concurrency: 1,
            timeout: Duration::from_millis(30_000),
            max_retries: 3,
            items_per_prompt: 4,
            budget_per_run: 200,
        }
    }
}

impl LlmSettings {
    /// Reads the `CONCORD_LLM_*` variables; unset or empty ones take their defaults.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`LlmSettings::from_env`], reading variables through `lookup` (for tests and callers
    /// that keep configuration elsewhere).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let defaults = Self::default();
        let base_url = get(ENV_BASE_URL).unwrap_or(defaults.base_url);
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(SettingsError {
                variable: ENV_BASE_URL,
                reason: "must start with http:// or https://".to_owned(),
            });
        }
        Ok(Self {
            base_url,
            model: get(ENV_MODEL).unwrap_or(defaults.model),
            api_key: get(ENV_API_KEY),
            concurrency: positive(ENV_CONCURRENCY, get(ENV_CONCURRENCY), defaults.concurrency)?,
            timeout: Duration::from_millis(positive(
                ENV_TIMEOUT_MS,
                get(ENV_TIMEOUT_MS),
                30_000u64,
            )?),
            max_retries: number(ENV_RETRIES, get(ENV_RETRIES), defaults.max_retries)?,
            items_per_prompt: positive(
                ENV_ITEMS_PER_PROMPT,
                get(ENV_ITEMS_PER_PROMPT),
                defaults.items_per_prompt,
            )?,
            budget_per_run: number(ENV_BUDGET, get(ENV_BUDGET), defaults.budget_per_run)?,
        })
    }

    /// The checks [`LlmSettings::from_lookup`] makes, for settings built in code.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let fail = |variable, reason: &str| {
            Err(SettingsError {
                variable,
                reason: reason.to_owned(),
            })
        };
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return fail(ENV_BASE_URL, "must start with http:// or https://");
        }
        if self.concurrency == 0 {
            return fail(ENV_CONCURRENCY, "must be at least 1");
        }
        if self.items_per_prompt == 0 {
            return fail(ENV_ITEMS_PER_PROMPT, "must be at least 1");
        }
        if self.timeout.is_zero() {
            return fail(ENV_TIMEOUT_MS, "must be at least 1");
        }
        Ok(())
    }
}

fn number<T: std::str::FromStr>(
    variable: &'static str,
    raw: Option<String>,
    default: T,
) -> Result<T, SettingsError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|_| SettingsError {
            variable,
            reason: format!("not a non-negative whole number: {raw:?}"),
        }),
    }
}

fn positive<T: std::str::FromStr + PartialEq + Default>(
    variable: &'static str,
    raw: Option<String>,
    default: T,
) -> Result<T, SettingsError> {
    let value = number(variable, raw, default)?;
    if value == T::default() {
        return Err(SettingsError {
            variable,
            reason: "must be at least 1".to_owned(),
        });
    }
    Ok(value)
}

impl fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("items_per_prompt", &self.items_per_prompt)
            .field("budget_per_run", &self.budget_per_run)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let settings = LlmSettings::from_lookup(lookup(&[])).expect("defaults");
        assert_eq!(settings, LlmSettings::default());
        assert_eq!(settings.base_url, "http://127.0.0.1:8081/v1");
        assert_eq!(settings.model, "SmolLM2-135M-Instruct");
        assert_eq!(settings.concurrency, 1);
        assert_eq!(settings.timeout, Duration::from_secs(30));
        assert_eq!(settings.max_retries, 3);
        assert_eq!(settings.items_per_prompt, 4);
        assert_eq!(settings.budget_per_run, 200);
        assert!(settings.api_key.is_none());
    }

    #[test]
    fn reads_every_variable() {
        let settings = LlmSettings::from_lookup(lookup(&[
            (ENV_BASE_URL, "https://llm.example/v1"),
            (ENV_MODEL, "big-model"),
            (ENV_API_KEY, "sk-secret"),
            (ENV_CONCURRENCY, "8"),
            (ENV_TIMEOUT_MS, "1500"),
            (ENV_RETRIES, "0"),
            (ENV_ITEMS_PER_PROMPT, "1"),
            (ENV_BUDGET, "0"),
        ]))
        .expect("settings");
        assert_eq!(settings.base_url, "https://llm.example/v1");
        assert_eq!(settings.model, "big-model");
        assert_eq!(settings.api_key.as_deref(), Some("sk-secret"));
        assert_eq!(settings.concurrency, 8);
        assert_eq!(settings.timeout, Duration::from_millis(1500));
        assert_eq!(settings.max_retries, 0);
        assert_eq!(settings.items_per_prompt, 1);
        assert_eq!(settings.budget_per_run, 0);
    }

    #[test]
    fn errors_name_the_variable() {
        let err =
            LlmSettings::from_lookup(lookup(&[(ENV_TIMEOUT_MS, "soon")])).expect_err("rejected");
        assert_eq!(err.variable, ENV_TIMEOUT_MS);
        assert!(err.to_string().starts_with("CONCORD_LLM_TIMEOUT_MS: "));
        let err =
            LlmSettings::from_lookup(lookup(&[(ENV_CONCURRENCY, "0")])).expect_err("rejected");
        assert_eq!(err.variable, ENV_CONCURRENCY);
        let err =
            LlmSettings::from_lookup(lookup(&[(ENV_BASE_URL, "ftp://x")])).expect_err("rejected");
        assert_eq!(err.variable, ENV_BASE_URL);
    }

    #[test]
    fn debug_hides_the_key() {
        let settings = LlmSettings {
            api_key: Some("sk-very-secret".to_owned()),
            ..LlmSettings::default()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }
}
