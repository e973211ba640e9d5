//! The gateway's API tests, against the real PostgreSQL and RabbitMQ: each test starts its own
//! gateway on its own database and broker namespace.

// Test code: helpers stop the test on a broken fixture (expect, panic); small test numbers cast exactly.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::expect_used,
    clippy::panic
)]

mod auth;
mod errors;
mod helpers;
mod idempotency;
mod intake;
mod jobs;
mod lookup_tables;
mod matching;
mod matching_models;
mod openapi;
mod ops;
mod outbox;
mod rate_limit;
mod realtime;
mod reconciliation;
mod reference_data;
mod resolutions;
mod traces;
mod ui;
mod webhooks;
