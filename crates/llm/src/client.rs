//! The client (shared HTTP connection pool, concurrency limit, metrics) and the per-run session
//! (budget of calls, answer cache).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_openai::types::chat::CreateChatCompletionResponse;
use rand::Rng;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use tokio::sync::{OnceCell, Semaphore};
use tracing::Instrument;

use crate::metrics::LlmMetrics;
use crate::prompt::{FormatStyle, Prompt};
use crate::settings::ENV_API_KEY;
use crate::{
    prompt, validate, ChoiceItem, FailureKind, ItemOutcome, LlmError, LlmSettings, SettingsError,
    TaskKind,
};

/// First backoff delay; doubled on every retry, with jitter, up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Longest `Retry-After` honoured; a longer one is waited this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Longest wait for a TCP/TLS connection, when the call's timeout is longer.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one OpenAI-compatible endpoint. Cheap to clone; the clones share the connection
/// pool, the limit of calls in flight and the metrics.
#[derive(Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: LlmSettings,
    url: String,
    http: reqwest::Client,
    /// `Bearer <key>`, marked sensitive.
    authorization: Option<HeaderValue>,
    permits: Semaphore,
    metrics: LlmMetrics,
    /// Set once the server turned down `json_schema` response formats while naming
    /// `json_object` (llama-cpp-python's server): from then on the schema goes in a
    /// `json_object` response format.
    json_object_format: AtomicBool,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// The failure of one HTTP call.
struct CallFailure {
    kind: FailureKind,
    /// The server's `Retry-After` on a 429.
    retry_after: Option<Duration>,
    /// The server refused a `json_schema` response format and named `json_object` instead.
    wants_json_object: bool,
}

impl From<FailureKind> for CallFailure {
    fn from(kind: FailureKind) -> Self {
        Self {
            kind,
            retry_after: None,
            wants_json_object: false,
        }
    }
}

/// A reply the server gave to one call.
struct Reply {
    content: Option<String>,
    model: String,
}

impl LlmClient {
    /// Builds the client and registers its metrics in `registry` (once per registry).
    pub fn new(settings: LlmSettings, registry: &prometheus::Registry) -> Result<Self, LlmError> {
        settings.validate()?;
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Fails only when another thread installed a provider meanwhile: that one is used.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(MAX_CONNECT_TIMEOUT))
            .build()?;
        let authorization = match &settings.api_key {
            None => None,
            Some(key) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| SettingsError {
                        variable: ENV_API_KEY,
                        reason: "not a valid HTTP header value".to_owned(),
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let url = format!(
            "{}/chat/completions",
            settings.base_url.trim_end_matches('/')
        );
        Ok(Self {
            inner: Arc::new(Inner {
                url,
                http,
                authorization,
                permits: Semaphore::new(settings.concurrency),
                metrics: LlmMetrics::register(registry)?,
                json_object_format: AtomicBool::new(false),
                settings,
            }),
        })
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.inner.settings
    }

    /// A session for one run: its own call budget and answer cache.
    pub fn session(&self, kind: TaskKind) -> Session {
        Session {
            client: self.clone(),
            kind,
            state: Arc::new(SessionState::default()),
        }
    }

    fn format_style(&self) -> FormatStyle {
        if self.inner.json_object_format.load(Ordering::Relaxed) {
            FormatStyle::JsonObjectWithSchema
        } else {
            FormatStyle::JsonSchema
        }
    }

    /// One HTTP call, in its own `llm.call` span, holding one of the client's permits.
    async fn call(&self, prompt: &Prompt) -> Result<Reply, CallFailure> {
        let inner = &self.inner;
        let span = tracing::info_span!(
            "llm.call",
            model = %inner.settings.model,
            prompt_tokens = tracing::field::Empty,
            completion_tokens = tracing::field::Empty,
            outcome = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        let recorded = span.clone();
        async move {
            let Ok(_permit) = inner.permits.acquire().await else {
                return Err(FailureKind::Transport.into());
            };
            let style = self.format_style();
            let body = match prompt.body(style) {
                Ok(body) => body,
                Err(error) => {
                    tracing::warn!(%error, "could not serialize a prompt");
                    return Err(FailureKind::Malformed.into());
                }
            };
            let started = Instant::now();
            let result = self.send(body, style, &recorded).await;
            inner
                .metrics
                .latency
                .observe(started.elapsed().as_secs_f64());
            let outcome = match &result {
                Ok(_) => "ok",
                Err(failure) => failure.kind.as_str(),
            };
            inner.metrics.calls.with_label_values(&[outcome]).inc();
            recorded.record("outcome", outcome);
            result
        }
        .instrument(span)
        .await
    }

    async fn send(
        &self,
        body: Vec<u8>,
        style: FormatStyle,
        span: &tracing::Span,
    ) -> Result<Reply, CallFailure> {
        let inner = &self.inner;
        let mut request = inner
            .http
            .post(&inner.url)
            .header(CONTENT_TYPE, "application/json")
            .timeout(inner.settings.timeout)
            .body(body);
        if let Some(authorization) = &inner.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let response = request.send().await.map_err(|e| transport_failure(&e))?;
        let status = response.status();
        span.record("status", status.as_u16());
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(CallFailure {
                kind: FailureKind::RateLimited,
                retry_after: retry_after(response.headers().get(RETRY_AFTER)),
                wants_json_object: false,
            });
        }
        if !status.is_success() {
            let kind = if status.is_server_error() {
                FailureKind::ServerError
            } else {
                FailureKind::Rejected
            };
            let text = response.text().await.unwrap_or_default();
            // llama-cpp-python answers a `json_schema` response format with a validation error
            // (a 500) that names the types it takes: `'text' or 'json_object'`.
            let wants_json_object = style == FormatStyle::JsonSchema
                && text.contains("json_schema")
                && text.contains("json_object");
            if kind == FailureKind::Rejected || wants_json_object {
                tracing::warn!(
                    url = %inner.url,
                    %status,
                    body = %text.chars().take(300).collect::<String>(),
                    "the model server refused the request",
                );
            }
            return Err(CallFailure {
                kind,
                retry_after: None,
                wants_json_object,
            });
        }
        let bytes = response.bytes().await.map_err(|e| transport_failure(&e))?;
        let parsed: CreateChatCompletionResponse = match serde_json::from_slice(&bytes) {
            Ok(parsed) => parsed,
            Err(error) => {
                tracing::warn!(url = %inner.url, %error, "the model server's reply is not a chat completion");
                return Err(FailureKind::Malformed.into());
            }
        };
        if let Some(usage) = &parsed.usage {
            span.record("prompt_tokens", usage.prompt_tokens);
            span.record("completion_tokens", usage.completion_tokens);
            inner
                .metrics
                .prompt_tokens
                .inc_by(u64::from(usage.prompt_tokens));
            inner
                .metrics
                .completion_tokens
                .inc_by(u64::from(usage.completion_tokens));
        }
        let model = if parsed.model.is_empty() {
            inner.settings.model.clone()
        } else {
            parsed.model
        };
        let content = parsed
            .choices
            .into_iter()
            .next()
            .and_then(|choice| choice.message.content);
        Ok(Reply { content, model })
    }
}

fn transport_failure(error: &reqwest::Error) -> CallFailure {
    if error.is_timeout() {
        FailureKind::Timeout.into()
    } else {
        tracing::debug!(%error, "model call failed");
        FailureKind::Transport.into()
    }
}

/// `Retry-After` in seconds (an HTTP date is not honoured: the backoff applies), capped.
fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let seconds: f64 = value?.to_str().ok()?.trim().parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(
        seconds.min(MAX_RETRY_AFTER.as_secs_f64()),
    ))
}

/// `BASE_BACKOFF × 2^attempt`, capped, of which the upper half is random ("equal jitter").
fn backoff(attempt: u32) -> Duration {
    let full = BASE_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(MAX_BACKOFF);
    let half = full / 2;
    // At most MAX_BACKOFF / 2, so it fits; saturating keeps it total.
    let jitter_ms =
        rand::rng().random_range(0..=u64::try_from(half.as_millis().max(1)).unwrap_or(u64::MAX));
    half + Duration::from_millis(jitter_ms)
}

fn is_retried(kind: FailureKind) -> bool {
    matches!(
        kind,
        FailureKind::RateLimited
            | FailureKind::ServerError
            | FailureKind::Timeout
            | FailureKind::Transport
    )
}

/// Outcomes of a prompt the model answered, shared by identical prompts of a session.
type Answered = Arc<Vec<ItemOutcome>>;

#[derive(Default)]
struct SessionState {
    calls: AtomicU32,
    answers: Mutex<HashMap<String, Arc<OnceCell<Answered>>>>,
}

/// One run's conversation with the model: a budget of calls and a cache of answers by prompt.
/// Cheap to clone; clones share the budget and the cache.
#[derive(Clone)]
pub struct Session {
    client: LlmClient,
    kind: TaskKind,
    state: Arc<SessionState>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("kind", &self.kind)
            .field("calls_made", &self.calls_made())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Asks about the items (split into prompts of `items_per_prompt`, at most `concurrency`
    /// calls in flight), returning one outcome per item, in order. Never panics, never errors as
    /// a whole.
    ///
    /// A prompt's call is retried on 429 (after `Retry-After`, or the backoff), 5xx, timeouts
    /// and transport errors, up to `max_retries` times and while the budget lasts; every HTTP
    /// call, retries included, counts against the budget. A reply that does not parse is not
    /// retried: at temperature 0 the same prompt tends to get the same reply, and the budget is
    /// better spent on other prompts. Identical prompts are asked once per session (failures
    /// that could be transient, such as timeouts, are not remembered).
    pub async fn choose(&self, items: &[ChoiceItem]) -> Vec<ItemOutcome> {
        let chunks = chunks(items, self.client.inner.settings.items_per_prompt);
        let asked = chunks.iter().map(|chunk| {
            let chunk: Vec<&ChoiceItem> = chunk.iter().filter_map(|&i| items.get(i)).collect();
            async move { self.ask_prompt(&chunk).await }
        });
        let answered = futures_util::future::join_all(asked).await;
        let mut outcomes: Vec<ItemOutcome> = vec![Err(FailureKind::Malformed); items.len()];
        for (chunk, chunk_outcomes) in chunks.iter().zip(answered) {
            for (&index, outcome) in chunk.iter().zip(chunk_outcomes) {
                if let Some(slot) = outcomes.get_mut(index) {
                    *slot = outcome;
                }
            }
        }
        let metrics = &self.client.inner.metrics;
        for (item, outcome) in items.iter().zip(&outcomes) {
            if let Err(kind) = outcome {
                metrics.failures.with_label_values(&[kind.as_str()]).inc();
                if *kind == FailureKind::NotOffered {
                    tracing::warn!(
                        item_id = %item.item_id,
                        "the model chose an id that was not offered; answer discarded",
                    );
                }
            }
        }
        outcomes
    }

    /// HTTP calls this session made so far, retries included.
    pub fn calls_made(&self) -> u32 {
        self.state.calls.load(Ordering::SeqCst)
    }

    pub fn kind(&self) -> TaskKind {
        self.kind
    }

    async fn ask_prompt(&self, items: &[&ChoiceItem]) -> Vec<ItemOutcome> {
        let inner = &self.client.inner;
        let prompt = match prompt::build(&inner.settings.model, self.kind, items) {
            Ok(prompt) => prompt,
            Err(error) => {
                tracing::warn!(%error, "could not serialize a prompt");
                return vec![Err(FailureKind::Malformed); items.len()];
            }
        };
        let cell = {
            let mut answers = self
                .state
                .answers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            answers.entry(prompt.key.clone()).or_default().clone()
        };
        let mut asked = false;
        let result = cell
            .get_or_try_init(|| {
                asked = true;
                self.ask(items, &prompt)
            })
            .await;
        match result {
            Ok(outcomes) => {
                if !asked {
                    inner.metrics.cache_hits.inc();
                }
                outcomes.as_ref().clone()
            }
            Err(kind) => vec![Err(kind); items.len()],
        }
    }

    /// Calls the model until it answers, the retries run out or the budget is spent.
    async fn ask(&self, items: &[&ChoiceItem], prompt: &Prompt) -> Result<Answered, FailureKind> {
        let settings = &self.client.inner.settings;
        let mut last_failure = None;
        let mut attempt = 0u32;
        loop {
            if !self.reserve_call() {
                return Err(last_failure.unwrap_or(FailureKind::BudgetSpent));
            }
            let failure = match self.client.call(prompt).await {
                Ok(reply) => {
                    return Ok(Arc::new(validate::outcomes(
                        items,
                        reply.content.as_deref(),
                        &reply.model,
                    )))
                }
                Err(failure) if failure.kind == FailureKind::Malformed => {
                    return Ok(Arc::new(vec![Err(FailureKind::Malformed); items.len()]))
                }
                Err(failure) if failure.wants_json_object => {
                    // Not a retry: the same prompt, in the format this server reads.
                    if !self
                        .client
                        .inner
                        .json_object_format
                        .swap(true, Ordering::Relaxed)
                    {
                        tracing::warn!(
                            url = %self.client.inner.url,
                            "the model server does not take `json_schema` response formats; \
                             sending the schema in a `json_object` response format from now on",
                        );
                    }
                    last_failure = Some(failure.kind);
                    continue;
                }
                Err(failure) => failure,
            };
            if !is_retried(failure.kind) || attempt >= settings.max_retries {
                tracing::warn!(
                    url = %self.client.inner.url,
                    kind = failure.kind.as_str(),
                    attempts = attempt + 1,
                    "model call failed; the items keep their deterministic outcome",
                );
                return Err(failure.kind);
            }
            let delay = match failure.retry_after {
                Some(after) => after + Duration::from_millis(rand::rng().random_range(0..=100u64)),
                None => backoff(attempt),
            };
            tracing::debug!(
                kind = failure.kind.as_str(),
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "retrying model call",
            );
            tokio::time::sleep(delay).await;
            last_failure = Some(failure.kind);
            attempt += 1;
        }
    }

    /// Takes one call from the budget, if any is left.
    fn reserve_call(&self) -> bool {
        let budget = self.client.inner.settings.budget_per_run;
        self.state
            .calls
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |made| {
                (made < budget).then_some(made + 1)
            })
            .is_ok()
    }
}

/// Indexes of the items of each prompt: at most `size` items, with distinct item ids.
fn chunks(items: &[ChoiceItem], size: usize) -> Vec<Vec<usize>> {
    let size = size.max(1);
    let mut chunks = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let repeated = current.iter().any(|&j| {
            items
                .get(j)
                .is_some_and(|other| other.item_id == item.item_id)
        });
        if current.len() >= size || repeated {
            chunks.push(std::mem::take(&mut current));
        }
        current.push(index);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(id: &str) -> ChoiceItem {
        ChoiceItem {
            item_id: id.to_owned(),
            data: json!({}),
            candidates: vec![],
        }
    }

    #[test]
    fn chunks_by_size_and_distinct_ids() {
        let items: Vec<ChoiceItem> = ["a", "b", "c", "a", "d"].into_iter().map(item).collect();
        assert_eq!(chunks(&items, 2), vec![vec![0, 1], vec![2, 3], vec![4]]);
        assert_eq!(chunks(&items, 4), vec![vec![0, 1, 2], vec![3, 4]]);
        assert!(chunks(&[], 4).is_empty());
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for attempt in 0..20 {
            let full = BASE_BACKOFF
                .saturating_mul(2u32.saturating_pow(attempt))
                .min(MAX_BACKOFF);
            let delay = backoff(attempt);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
    }

    #[test]
    fn retry_after_in_seconds_capped() {
        let header = |v: &str| HeaderValue::from_str(v).expect("header");
        assert_eq!(
            retry_after(Some(&header("1"))),
            Some(Duration::from_secs(1))
        );
        assert_eq!(retry_after(Some(&header("3600"))), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(Some(&header("-1"))), None);
        assert_eq!(
            retry_after(Some(&header("Wed, 21 Oct 2015 07:28:00 GMT"))),
            None
        );
        assert_eq!(retry_after(None), None);
    }
}
