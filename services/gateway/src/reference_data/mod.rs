//! Reference data (`/v1/reference-data`): named tables of rows that documents are matched
//! against, uploaded as JSON or as CSV (a `text/csv` body or a multipart `file` part, streamed in
//! bounded memory), with their column types inferred on the way in; listed, read page by page,
//! exported as CSV and deleted.
//!
//! | endpoint | scope |
//! | --- | --- |
//! | `POST /v1/reference-data` (`application/json`, `text/csv`, `multipart/form-data`) | write |
//! | `GET /v1/reference-data`, `GET /v1/reference-data/{id}` | read |
//! | `GET /v1/reference-data/{id}/rows`, `GET /v1/reference-data/{id}/export` | read |
//! | `DELETE /v1/reference-data/{id}` | write |
//!
//! The matching worker reads a dataset with
//! [`concord_models::reference_datasets::ReferenceRow::load_all`].

pub mod columns;
pub mod export;
pub mod routes;
pub mod upload;
pub mod view;
pub mod writer;

pub use routes::configure;
