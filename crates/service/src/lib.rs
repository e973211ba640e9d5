//! What every service binary shares: its settings, its reaction to SIGTERM, and (for the
//! workers) the runtime around a job handler.

pub mod foundation;
pub mod job;
pub mod metrics;
pub mod ops;
pub mod outbox;
pub mod settings;
pub mod shutdown;
pub mod worker;

pub use foundation::Foundation;
pub use job::{JobError, JobHandler, TransactionalHandler};
pub use metrics::{CacheMetrics, WorkMetrics};
pub use settings::{ServiceSettings, SettingsError};
pub use worker::{Worker, WorkerContext, WorkerSettings};
