//! `/v1/resolutions`: runs of a data policy over the documents of a completed job run. A run is
//! created `pending` with snapshots of its policy (and the lookup-table versions it names) and
//! of its dialect, started by `execute` (one chunk job per few thousand documents for the
//! resolution workers), polled, and read back one result per document and field — or exported
//! as CSV rendered in the run's dialect.

pub mod export;
pub mod lifecycle;
pub mod runs;
pub mod view;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    runs::configure(cfg);
}
