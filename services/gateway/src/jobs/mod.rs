//! Job runs: batches of documents submitted by REST (JSON or streamed NDJSON) or through the
//! intake queue, validated the same way, stored in one transaction with their `job.completed`
//! event.

pub mod domain;
pub mod ingest;
pub mod routes;
pub mod view;
