//! The gateway's API tests, against the real PostgreSQL and RabbitMQ: each test starts its own
//! gateway on its own database and broker namespace.

mod auth;
mod errors;
mod helpers;
mod idempotency;
mod intake;
mod jobs;
mod lookup_tables;
mod matching;
mod matching_models;
mod ops;
mod outbox;
mod rate_limit;
mod reference_data;
mod resolutions;
