//! Observability shared by every service: structured logs, OpenTelemetry traces whose context
//! travels in message headers and are exported over OTLP when configured, Prometheus metrics,
//! and the health and metrics endpoints.

pub mod export;
pub mod logging;
pub mod ops;
pub mod propagation;

pub use prometheus;
