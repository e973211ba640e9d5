//! The REST gateway: authentication, validation, rate limits, idempotency keys, job runs in by
//! REST and by the intake queue, and the outbox relay that announces what it stored.

pub mod auth;
pub mod cli;
pub mod codec;
pub mod dialects;
pub mod error;
pub mod extract;
pub mod html;
pub mod idempotency;
pub mod intake;
pub mod jobs;
pub mod keys;
pub mod lookup_tables;
pub mod matching;
pub mod names;
pub mod openapi;
pub mod pagination;
pub mod policies;
pub mod rate_limit;
pub mod reconcile;
pub mod reference_data;
pub mod request_context;
pub mod resolutions;
pub mod settings;
pub mod startup;
pub mod state;
pub mod ui;
pub mod webhooks;

pub use settings::GatewaySettings;
pub use startup::Application;
