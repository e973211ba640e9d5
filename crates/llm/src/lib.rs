//! Asking an OpenAI-compatible chat model to choose among offered candidates.
//!
//! The model is shown items (a document's mapped values, or a raw value and its field) with the
//! candidates the scoring core proposed, and answers in strict JSON (a JSON schema in
//! `response_format` whose enums list only the offered ids). Every answer is validated: an id that
//! was not offered to that item, or a reply that does not parse, is discarded. Calls are bounded
//! (concurrency, per-call timeout, retries with backoff and `Retry-After`, a per-run budget) and
//! never fail the caller: each item gets an [`Answer`] or a [`FailureKind`], and the caller keeps
//! its deterministic outcome for the failures.
//!
//! # Transport
//!
//! Request and response types are async-openai's (`CreateChatCompletionRequest`,
//! `CreateChatCompletionResponse`, with only its `chat-completion-types` feature), but the
//! request is sent with `reqwest` directly: async-openai's client retries on its own and turns a
//! 429 into an error that keeps the status but drops the headers, so `Retry-After` could not be
//! honoured. `response_format` is written by this crate so that the schema's properties keep
//! their order (`item_id` before `choice`): `serde_json::Value` would sort them.
//!
//! The schema goes in OpenAI's `{"type":"json_schema","json_schema":{…,"strict":true}}` response
//! format. A server that turns that down while naming `json_object` (llama-cpp-python's, the
//! default local server, answers so with a 500) is asked again at once with the same schema in
//! `{"type":"json_object","schema":…}`, which it turns into a grammar; the client remembers that
//! for the rest of its life. The choice is `{"anyOf":[{"type":"string","enum":[ids]},{"type":"null"}]}`:
//! every branch has a type (OpenAI's strict mode wants one), and llama.cpp's converters keep an
//! enum under `anyOf` but drop it beside a list of types.
//!
//! TLS is rustls with the *ring* provider (already in the workspace's dependency tree, unlike
//! aws-lc-rs); building a client installs ring as the process's default rustls provider when no
//! provider has been installed yet.

mod client;
mod metrics;
pub(crate) mod prompt;
mod settings;
mod validate;

pub use client::{LlmClient, Session};
pub use settings::{
    LlmSettings, SettingsError, DEFAULT_BASE_URL, DEFAULT_MODEL, ENV_API_KEY, ENV_BASE_URL,
    ENV_BUDGET, ENV_CONCURRENCY, ENV_ITEMS_PER_PROMPT, ENV_MODEL, ENV_RETRIES, ENV_TIMEOUT_MS,
};

/// What one item shows the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceItem {
    /// The caller's id of the item; answers are matched to items by it. Unique within a call to
    /// [`Session::choose`] is best (a repeated id goes to another prompt).
    pub item_id: String,
    /// For example `{"field":"country","value":"Georgia"}`, or a document's mapped values.
    pub data: serde_json::Value,
    /// The only ids the model may choose for this item (or none).
    pub candidates: Vec<Candidate>,
}

/// One candidate the model may choose.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: String,
    /// For example `{"code":"GE","label":"Georgia"}`, or a reference row's values.
    pub data: serde_json::Value,
}

/// What is asked; chooses the system prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// Choose the reference row a document is a copy of, or none.
    Matching,
    /// Choose the lookup-table entry a raw value means, or none.
    Resolution,
}

/// The model's validated answer for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// One of the ids offered to this item, or `None` when the model chose none of them.
    pub chosen: Option<String>,
    /// The model's confidence, clamped to [0, 1].
    pub confidence: f64,
    /// One sentence from the model (trimmed, at most 500 characters).
    pub rationale: String,
    /// The model that answered, as the server named it.
    pub model: String,
}

/// Why an item has no answer. The caller keeps its deterministic outcome and flags the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// 429 until the retries ran out.
    RateLimited,
    /// 5xx until the retries ran out.
    ServerError,
    /// The call took longer than the timeout, until the retries ran out.
    Timeout,
    /// No HTTP answer (connection refused or reset, DNS, TLS), until the retries ran out.
    Transport,
    /// The server refused the request (4xx other than 429: bad key, unknown model, rejected
    /// schema); not retried.
    Rejected,
    /// The reply was not JSON of the answer schema, or had no (or conflicting) answers for the
    /// item.
    Malformed,
    /// The model chose an id that was not offered to this item.
    NotOffered,
    /// The session's budget of calls was spent before this item was asked.
    BudgetSpent,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::ServerError => "server_error",
            Self::Timeout => "timeout",
            Self::Transport => "transport",
            Self::Rejected => "rejected",
            Self::Malformed => "malformed",
            Self::NotOffered => "not_offered",
            Self::BudgetSpent => "budget_spent",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One outcome per item.
pub type ItemOutcome = Result<Answer, FailureKind>;

/// Building a client failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("invalid LLM settings: {0}")]
    Settings(#[from] SettingsError),
    #[error("registering LLM metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}
