//! Concord's persistence: every table of the domain, through diesel on PostgreSQL.
//!
//! One module per table, each with its row type (`Queryable`), its `New*` insert type and the
//! queries the services need. Ids are typed ([`ids`]) so that a job run id can't be passed where a
//! matching run id is expected. Migrations are embedded and run from one place ([`migrate`]).

pub mod api_keys;
pub mod data_policies;
pub mod database;
pub mod dialects;
pub mod documents;
pub mod error;
pub mod idempotency_keys;
pub mod ids;
pub mod job_runs;
pub mod json;
pub mod lookup_tables;
pub mod match_results;
pub mod matching_configs;
pub mod matching_models;
pub mod matching_runs;
pub mod organizations;
pub mod outbox;
pub mod processed_messages;
pub mod rate_limit_buckets;
pub mod reconciliation_tokens;
pub mod reference_datasets;
pub mod resolution_results;
pub mod resolution_runs;
pub mod review_sessions;
pub mod schema;
mod text_enum;
pub mod webhook_deliveries;
pub mod webhook_delivery_attempts;
pub mod webhook_endpoints;

pub use database::{migrate, DbConnection, DbPool};
pub use error::StoreError;
pub use json::Json;
