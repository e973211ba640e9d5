//! Where spans go: over OTLP/HTTP to a collector, configured by the standard variables of the
//! OpenTelemetry specification, and nowhere (kept in the process) when none is set.
//!
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL: `/v1/traces` is appended) or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is) turns the export on.
//! - `OTEL_EXPORTER_OTLP_PROTOCOL` / `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`: `http/protobuf` (the
//!   default) or `http/json`. `grpc` is refused with an error naming the variable: this build
//!   carries no gRPC client.
//! - `OTEL_EXPORTER_OTLP_HEADERS`, `_TIMEOUT`, `_COMPRESSION` and their `_TRACES_` forms are read
//!   by the exporter; `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` name the resource;
//!   `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` choose the sampler;
//!   `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE` tune the batch processor.
//! - `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turns the export off whatever else is
//!   set.

use opentelemetry_otlp::{Protocol, WithExportConfig};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("{variable}={value:?} is not a protocol this build exports with (use http/protobuf or http/json)")]
    Protocol {
        variable: &'static str,
        value: String,
    },
    #[error("{variable}={value:?}: only `otlp` or `none` are supported")]
    Exporter {
        variable: &'static str,
        value: String,
    },
    #[error("building the OTLP span exporter: {0}")]
    Build(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Whether the variables ask for spans to be exported.
pub fn endpoint_configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.eq_ignore_ascii_case("none"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The exporter the variables describe, or `None` when they describe none.
pub fn span_exporter() -> Result<Option<opentelemetry_otlp::SpanExporter>, ExportError> {
    if let Ok(value) = std::env::var("OTEL_TRACES_EXPORTER") {
        if !value.eq_ignore_ascii_case("otlp") && !value.eq_ignore_ascii_case("none") {
            return Err(ExportError::Exporter {
                variable: "OTEL_TRACES_EXPORTER",
                value,
            });
        }
    }
    if !endpoint_configured() {
        return Ok(None);
    }
    let protocol = protocol()?;
    // The HTTP client speaks TLS through rustls with ring (as the LLM client does); installing
    // it again when another part of the process did is not an error worth reporting.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(Some(
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .build()?,
    ))
}

/// The protocol the variables name (the traces' own first), `http/protobuf` when none.
fn protocol() -> Result<Protocol, ExportError> {
    for variable in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Ok(value) = std::env::var(variable) {
            return match value.trim() {
                "http/protobuf" => Ok(Protocol::HttpBinary),
                "http/json" => Ok(Protocol::HttpJson),
                _ => Err(ExportError::Protocol { variable, value }),
            };
        }
    }
    Ok(Protocol::HttpBinary)
}
