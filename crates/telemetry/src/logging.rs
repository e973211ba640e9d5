use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::export::{self, ExportError};

/// The process's tracer provider, kept to flush its exporter on [`shutdown`].
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs the process-wide subscriber: JSON logs on stderr (`CONCORD_LOG_FORMAT=text` for
/// human-readable ones), filtered by `RUST_LOG` (default `info`), and an OpenTelemetry layer so
/// that every span has a W3C trace context that can be propagated through messages.
///
/// Spans are exported over OTLP/HTTP when the standard variables say where
/// (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; see [`crate::export`]),
/// and kept in the process otherwise. A setting that cannot be honoured (an unknown protocol, say)
/// is an error: the service does not start with its traces silently off.
///
/// Safe to call more than once: only the first call installs anything. Call [`shutdown`] before
/// the process exits so that the last spans are sent.
pub fn init(service_name: &'static str) -> Result<(), ExportError> {
    if PROVIDER.get().is_some() {
        return Ok(());
    }
    let provider = provider(service_name)?;
    install(&provider, service_name, default_filter());
    Ok(())
}

/// For tests: like [`init`] without export, silent unless `TEST_LOG` is set.
pub fn init_for_tests() {
    if PROVIDER.get().is_some() {
        return;
    }
    let filter = if std::env::var_os("TEST_LOG").is_some() {
        default_filter()
    } else {
        EnvFilter::new("off")
    };
    install(
        &SdkTracerProvider::builder().build(),
        "concord-test",
        filter,
    );
}

/// Sends the spans still buffered and stops the exporter (nothing when there is none).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(error) = provider.shutdown() {
            // The process is ending: there is nowhere left to report this but the log.
            tracing::warn!(%error, "flushing the last spans failed");
        }
    }
}

fn provider(service_name: &'static str) -> Result<SdkTracerProvider, ExportError> {
    let builder = SdkTracerProvider::builder().with_resource(resource(service_name));
    Ok(match export::span_exporter()? {
        Some(exporter) => builder.with_batch_exporter(exporter).build(),
        None => builder.build(),
    })
}

/// `service.name` is the service's own unless `OTEL_SERVICE_NAME` names it; the rest of the
/// resource comes from `OTEL_RESOURCE_ATTRIBUTES`.
fn resource(service_name: &'static str) -> Resource {
    let builder = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        builder.build()
    } else {
        builder.with_service_name(service_name).build()
    }
}

fn default_filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,lapin=warn,amq_protocol=warn,actix_server=warn"))
}

fn install(provider: &SdkTracerProvider, service_name: &'static str, filter: EnvFilter) {
    if PROVIDER.set(provider.clone()).is_err() {
        return;
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = provider.tracer(service_name);
    opentelemetry::global::set_tracer_provider(provider.clone());

    let text = std::env::var("CONCORD_LOG_FORMAT").is_ok_and(|f| f == "text");
    let fmt_layer = if text {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed()
    };
    // The log filter applies to the logs only: spans stay on for the traces (and so for the trace
    // context that messages carry) even when logs are silenced.
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    // Another subscriber may already be installed (tests embedding several services).
    let _ = tracing_subscriber::registry()
        .with(fmt_layer.with_filter(filter))
        .with(traces)
        .try_init();
    tracing::info!(
        service = service_name,
        otlp = export::endpoint_configured(),
        "telemetry initialised"
    );
}
